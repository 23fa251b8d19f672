"""`modelrouter serve`: an HTTP proxy that routes agents' requests (Claude Code, Codex, aider…).

Layers, outside in; each endpoint is thin:

    wire format in  (anthropic_api / openai_api: parse the client's JSON)
      -> AgentRequest (request.py: neutral transcript + call options)
      -> Decision     (decide.py: model name, overrides, sticky tasks, the classifier)
      -> engine       (engine.Engine: fallback, cooldowns, budgets, redaction, ledger)
      -> neutral events (relay.py: held until the first token, faults after it;
                         hangup.py: a client that disconnects stops the job)
      -> wire format out (anthropic_api / openai_api: SSE or one JSON body)

`app.py` wires these into a Starlette application; `server.py` runs it on uvicorn.
"""
