"""courtroom_agent."""
