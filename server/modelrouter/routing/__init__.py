"""The routing decision, shared by every front end: request → tier → plan.

- `routing.decide`: a request (free text, the file it is about, an optional forced tier or
  backend, an optional follow-up or conversation key) becomes a `Decision`: the tier, why,
  and the backend to prefer. Rules and the learned model classify it, the optional LLM
  router may re-tier an unsure decision, and follow-ups stay with the tier and backend of the
  answer they follow.
- `routing.sticky`: what a follow-up sticks to, and the conversation store for front ends
  whose requests carry a session key rather than an editor range.
- `routing.escalation`: checks on an answer and the policy that re-asks one tier up when a
  check fails (and the "redo with a stronger model" step).
- `routing.plan`: a tier becomes the ordered backends to try (no network).

The language server, `modelrouter ask`/`route` and the proxy call these; none of them
repeats a step. Nothing here imports a front end or the engine at run time.
"""
