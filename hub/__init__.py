"""The central hub: archive, REST API, live transcript for clerks' browsers.

Public API (import from the submodules, so that ``courtroom_core.wire`` stays light for
the agent)::

    from hub.config import HubConfig, CourtroomConfig, load_config
    from hub.app import create_app            # FastAPI app, archive opened in its lifespan
    from hub.server import HubServer, serve   # uvicorn inside the caller's event loop
    from hub.security import hash_password    # for [[users]] password_hash entries
"""
