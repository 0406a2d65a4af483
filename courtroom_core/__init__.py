"""The shared kernel: the ground floor every other package may import.

It imports none of the project's other packages (``tests/test_layers.py``
fails the build when one does):

* :mod:`courtroom_core.errors` — :class:`~courtroom_core.errors.CourtroomError`,
  the root of every package's error tree;
* :mod:`courtroom_core.wire` (with :mod:`courtroom_core.wire_bodies`) — the agent
  ⇄ hub wire format and every event kind's body;
* :mod:`courtroom_core.hearing` — the hearing lifecycle as a transition table;
* :mod:`courtroom_core.backoff` — jittered reconnect backoff and error classes;
* :mod:`courtroom_core.config_errors` — configuration errors named by key path.
"""
