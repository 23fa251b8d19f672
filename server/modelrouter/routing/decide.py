"""Request → tier: the one place a front end asks which tier answers a request, and why.

A front end describes the request as a `RouteRequest`: the text the user wrote (an editor
action's instruction or selection, a terminal request, a chat's latest human turn), the file
it is about, and optionally a tier or backend the user or the configuration chose, and what
it follows up on (an editor's model-written range) or which conversation it belongs to.

The steps, in order, each skipped when it does not apply:
1. a forced tier (an action's configured tier, `--tier`, a tier named by the client) or
   a forced backend (its cheapest tier) is taken as is;
2. otherwise the rules and the learned model classify the text (`classify.classify`);
3. `route()` only: the optional LLM router may re-tier an unsure learned decision (it asks a
   model, so `decide()`, which never touches the network, leaves it out);
4. a follow-up stays on the tier and backend of the answer it follows unless it needs a
   stronger tier (`routing.sticky`).

The resulting `Decision` names the tier, the reason shown to the user and the backend to
try first; `Engine.plan(decision.tier)` then gives the backends in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelrouter.classify import Classification, classify
from modelrouter.config import Action, Rules
from modelrouter.errors import RoutingError
from modelrouter.privacy import is_local_only
from modelrouter.routing.sticky import Prior, Sessions, keeps

if TYPE_CHECKING:
    from modelrouter.engine import Engine


@dataclass(frozen=True)
class RouteRequest:
    """A request as every front end describes it to the router."""

    text: str  # what is classified: the user's words (or the selected code when there are none)
    language: str | None = None  # language id of the file the request is about
    path: str | None = None  # that file (a path or `file:` URI)
    workspace: str | None = None  # the folder paths in the rules are relative to
    selection_tokens: int = 0  # size of attached code, for the rules' token filters
    tier: str | None = None  # chosen without classifying (action tier, --tier, client's choice)
    tier_reason: str | None = None  # why that tier, for the user
    backend: str | None = None  # a backend the user asked for by name: it is tried first
    follow_up: Prior | None = None  # the answer this request continues (editor provenance)
    session: str | None = None  # conversation key, looked up in `Sessions` when no follow_up
    continuation: bool = False  # a turn with no new request (tool results): stays where it is
    local_only: bool = False  # must stay on this machine whatever the file

    def is_local_only(self, rules: Rules) -> bool:
        """Marked local-only, or about a file the rules keep on this machine."""
        return self.local_only or is_local_only(self.path, rules, workspace=self.workspace)


@dataclass(frozen=True)
class Decision:
    """Which tier answers a request, why, and which backend to try first."""

    tier: str
    reason: str
    source: str  # forced | rules | learned | llm | default | sticky
    prefer_backend: str | None = None  # tried first when usable
    classification: Classification | None = None  # None when the tier was not classified
    follows: Prior | None = None  # the earlier answer whose tier and backend were kept
    forced: bool = False  # the tier was chosen for the request, not classified


def decide(rules: Rules, request: RouteRequest, *, sessions: Sessions | None = None) -> Decision:
    """The decision without the LLM router: no network, no model call (dry runs, `route`)."""
    first = _first_step(rules, request, sessions)
    return first if isinstance(first, Decision) else _stick(rules, request, first, sessions)


async def route(
    rules: Rules,
    request: RouteRequest,
    *,
    engine: Engine | None = None,
    sessions: Sessions | None = None,
) -> Decision:
    """The full decision: as `decide`, then `reconsider` (the LLM router)."""
    decision = decide(rules, request, sessions=sessions)
    return await reconsider(rules, request, decision, engine=engine, sessions=sessions)


async def reconsider(
    rules: Rules,
    request: RouteRequest,
    decision: Decision,
    *,
    engine: Engine | None = None,
    sessions: Sessions | None = None,
) -> Decision:
    """`decision`, or the LLM router's re-tiering of its unsure learned classification when
    the rules name a router backend and an `engine` is given to reach it."""
    c = decision.classification
    if engine is None or c is None or decision.forced:
        return decision
    # Imported here: the LLM router reaches backends, which plain routing never needs.
    from modelrouter.llm_router import maybe_llm_route

    routed = await maybe_llm_route(
        engine, request.text, c, local_only=request.is_local_only(rules), path=request.path
    )
    if routed is c:
        return decision
    step = _Classified(routed.tier, routed.reason, routed.source, routed)
    return _stick(rules, request, step, sessions)


def remember(
    sessions: Sessions | None, request: RouteRequest, tier: str, backend: str, model: str
) -> None:
    """Remember the answer a conversation received, so that its next turn sticks to it."""
    if sessions is not None and request.session:
        sessions.remember(request.session, tier, backend, model)


@dataclass(frozen=True)
class _Classified:
    """Step 1/2's result, before stickiness."""

    tier: str
    reason: str
    source: str
    classification: Classification | None


def is_trivial_edit(rules: Rules, action: Action, tier: str) -> bool:
    """Whether an action's edit is a trivial one, held to the size of the code it replaces:
    the action is set to the cheapest tier, or was routed there."""
    chosen = action.tier if action.tier != "auto" else tier
    return chosen in rules.tiers and rules.tier_rank(chosen) == 0


def _prior(request: RouteRequest, sessions: Sessions | None) -> Prior | None:
    if request.follow_up is not None:
        return request.follow_up
    if sessions is not None and request.session:
        return sessions.get(request.session)
    return None


def _first_step(
    rules: Rules, request: RouteRequest, sessions: Sessions | None
) -> Decision | _Classified:
    """A finished decision (forced backend, continuation), or the tier to make sticky."""
    if request.backend is not None:
        return _forced_backend(rules, request)
    if request.tier is not None:
        if request.tier not in rules.tiers:
            raise RoutingError(
                f"unknown tier {request.tier!r}; tiers are: {', '.join(rules.tier_order)}"
            )
        reason = request.tier_reason or f"tier {request.tier} requested"
        return _Classified(request.tier, reason, "forced", None)
    prior = _prior(request, sessions)
    if request.continuation and prior is not None and prior.tier in rules.tiers:
        who = prior.model or prior.backend or "the conversation's model"
        return Decision(
            prior.tier,
            f"continues the conversation with {who} on tier {prior.tier}",
            "sticky",
            prefer_backend=prior.backend,
            follows=prior,
        )
    if not request.text.strip():
        # Classifying nothing would route to the costliest tier and send an empty request.
        raise RoutingError(
            "the request is empty: nothing to do; say what you want (or select some code)"
        )
    c = classify(
        rules,
        request.text,
        language=request.language,
        path=request.path,
        selection_tokens=request.selection_tokens,
    )
    return _Classified(c.tier, c.reason, c.source, c)


def _forced_backend(rules: Rules, request: RouteRequest) -> Decision:
    name = request.backend
    if name not in rules.backends:
        raise RoutingError(f"unknown backend {name!r}; backends are: {', '.join(rules.backends)}")
    if request.tier is not None:
        if request.tier not in rules.tiers:
            raise RoutingError(
                f"unknown tier {request.tier!r}; tiers are: {', '.join(rules.tier_order)}"
            )
        if name not in rules.tiers[request.tier]:
            raise RoutingError(f"backend {name!r} is not in tier {request.tier!r}")
        tier = request.tier
    else:
        tier = next((t for t in rules.tier_order if name in rules.tiers[t]), None)
        if tier is None:
            raise RoutingError(f"backend {name!r} is in no tier, so nothing routes to it")
    reason = request.tier_reason or f"backend {name} requested (tier {tier})"
    return Decision(tier, reason, "forced", prefer_backend=name, forced=True)


def _stick(
    rules: Rules, request: RouteRequest, step: _Classified, sessions: Sessions | None
) -> Decision:
    forced = step.source == "forced"
    prior = _prior(request, sessions)
    if prior is not None and keeps(rules, step.tier, prior):
        who = prior.model or prior.backend or f"tier {prior.tier}"
        return Decision(
            prior.tier,
            f"follow-up on code written by {who}; {step.reason}"
            if request.follow_up is not None
            else f"same conversation as {who}'s answer; {step.reason}",
            "sticky",
            prefer_backend=prior.backend,
            classification=step.classification,
            follows=prior,
            forced=forced,
        )
    return Decision(
        step.tier, step.reason, step.source, classification=step.classification, forced=forced
    )
