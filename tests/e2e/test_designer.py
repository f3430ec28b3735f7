"""A designer in headless Chromium: course_builder to published through the generation
child flow inline, a failure injected and retried, the session saved as a scenario and
reloaded from its URL; readable diagrams without overlapping labels."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ["checkout", "course_builder", "generation", "registration"]

# Every text of the diagram against every other, and against every state's box: a text
# may sit inside its own state and inside a compound, never across a border.
OVERLAPS = """(svg) => {
  const box = (el) => { const r = el.getBoundingClientRect();
    return {x0: r.left, y0: r.top, x1: r.right, y1: r.bottom}; };
  const hit = (a, b) => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
  const inside = (a, b) => a.x0 >= b.x0 && a.x1 <= b.x1 && a.y0 >= b.y0 && a.y1 <= b.y1;
  const texts = [...svg.querySelectorAll("text")].map((t) => ({
    g: t.closest("g.node, g.cluster, g.graph"), r: box(t), s: t.textContent }));
  const states = [...svg.querySelectorAll("[data-state]")].map((g) => ({
    g, id: g.dataset.state, cluster: g.classList.contains("cluster"),
    r: box(g.querySelector(":scope > polygon, :scope > path, :scope > ellipse")) }));
  const found = [];
  texts.forEach((a, i) => texts.slice(i + 1).forEach((b) => {
    if (!(a.g === b.g && a.g.classList.contains("node")) && hit(a.r, b.r)) found.push([a.s, b.s]);
  }));
  for (const a of texts) for (const s of states) {
    if (a.g !== s.g && (s.cluster ? hit(a.r, s.r) && !inside(a.r, s.r) : hit(a.r, s.r))) {
      found.push([a.s, s.id]);
    }
  }
  return {texts: texts.length, states: states.length, overlaps: found};
}"""

# The heights in pixels of the state names the diagram pane shows.
VISIBLE_STATE_NAMES = """(pane) => {
  const p = pane.getBoundingClientRect();
  return [...pane.querySelectorAll("g.node[data-state] text:first-of-type")].map((t) => {
    const r = t.getBoundingClientRect();
    const seen = r.right > p.left && r.left < p.right && r.bottom > p.top && r.top < p.bottom;
    return seen ? [t.textContent, r.height] : null;
  }).filter(Boolean);
}"""


def step_count(page: Any) -> int:
    return int(page.evaluate("Number(document.body.dataset.step || 0)"))


def _sent(page: Any, click: Any) -> None:
    """Click, and wait for the page to show the step it added."""
    before = step_count(page)
    click()
    page.wait_for_function(f"Number(document.body.dataset.step) !== {before}")


def fire(page: Any, event: str, actor: str | None = None, **fields: str) -> None:
    """Send a user event from its button or form, filling in ``fields``."""
    scope = f'[data-actor="{actor}"]' if actor else ":not([data-actor])"
    form = page.locator(f'#events form[data-event="{event}"]{scope}')
    if form.count():
        for name, value in fields.items():
            form.locator(f'[name="{name}"]').fill(value)
        _sent(page, lambda: form.locator("button[type=submit]").click())
    else:
        _sent(page, lambda: page.locator(f'#events button.event[data-event="{event}"]{scope}')
              .click())


def outcome(page: Any, event: str, detail: str, actor: str | None = None) -> None:
    scope = f'[data-actor="{actor}"]' if actor else ":not([data-actor])"
    button = page.locator(f'#events button.outcome[data-event="{event}"]'
                          f'[data-outcome="{detail}"]{scope}')
    _sent(page, button.click)


def active(page: Any, pane: str = "#diagram") -> list[str]:
    states: list[str] = page.eval_on_selector_all(
        f"{pane} .active[data-state]", "els => els.map(e => e.dataset.state)")
    return sorted(states)


def pick_flow(page: Any, name: str) -> None:
    page.select_option("#machine", name)
    page.wait_for_selector(f'#diagram[data-machine="{name}"] svg')
    page.wait_for_function(f"location.hash.includes('flow={name}')")


def play_generation(page: Any, actor: str) -> None:
    """The generation child, played inline: enqueued, polled once, succeeded."""
    child = f'section.child[data-actor="{actor}"]'
    page.wait_for_selector(f"{child} svg")
    outcome(page, "xstate.done.actor.startGeneration", "jobId=job_1", actor)
    outcome(page, "xstate.after.POLL_INTERVAL.waiting", "", actor)
    expect(page.locator(f'{child} [data-state="polling"]')).to_have_class("node active")
    outcome(page, "xstate.done.actor.getGenerationJob", "jobId=job_1, status=succeeded", actor)


def test_a_designer_plays_course_builder_through_the_child_flow_saves_and_shares_it(
    page: Any, scenario_dir: Path,
) -> None:
    pick_flow(page, "course_builder")
    fire(page, "TITLE_CHANGED")
    fire(page, "DESIRED_OUTCOME_CHANGED")
    fire(page, "BASICS_SUBMITTED")
    outcome(page, "xstate.done.actor.createCourse", "courseId=course_1")
    fire(page, "SME_SELECTED")
    fire(page, "SMES_CONFIRMED")
    fire(page, "AUDIENCE_SELECTED")
    fire(page, "AUDIENCES_CONFIRMED")
    outcome(page, "xstate.done.actor.setCourseTargeting", "courseId=course_1")

    # The child flow runs inline: its diagram and its events, nested under its actor.
    child = page.locator('section.child[data-actor="generateOutline"]')
    expect(child).to_be_visible()
    expect(child.locator('[data-state="enqueuing"]')).to_have_class("node active")
    expect(page.locator('.actor-events[data-actor="generateOutline"] > h3')).to_contain_text(
        "generateOutline generation")

    # What can go wrong: the child's call fails; the designer injects it, then retries.
    failure = page.locator('#whatif li[data-source="startGeneration"]')
    expect(failure).to_contain_text("way back: RETRY")
    _sent(page, failure.locator("button.inject").click)
    expect(child.locator('[data-state="network_error"]')).to_have_class("node failure active")
    fire(page, "RETRY", actor="generateOutline")
    expect(child.locator('[data-state="enqueuing"]')).to_have_class("node active")

    play_generation(page, "generateOutline")
    expect(page.locator("#deliveries")).to_contain_text(
        "generateOutline finished: course_builder received generateOutline done")
    assert active(page) == ["reviewingOutline"]
    expect(page.locator("#context")).to_contain_text('"job_1"')

    fire(page, "OUTLINE_APPROVED")
    play_generation(page, "generateLessons")
    assert active(page) == ["editor"]
    fire(page, "PREVIEW_OPENED")
    fire(page, "PUBLISH_REQUESTED")
    outcome(page, "xstate.done.actor.publishCourse",
            "courseId=course_1, publishedUrl=https://mirai.example/c/1")
    expect(page.locator("#done")).to_be_visible()
    assert active(page) == ["published"]
    steps = step_count(page)

    # Saved as a scenario, into the scenarios directory.
    page.locator("#scenario-panel summary").click()
    page.locator("#scenario-name").fill("published through the generation child")
    page.locator("#scenario-file").fill("course_builder_designer")
    page.get_by_role("button", name="Save to scenarios/").click()
    expect(page.locator("#scenario-status")).to_contain_text(
        "flowcheck simulate course_builder --script scenarios/course_builder_designer.yaml")
    saved = scenario_dir / "course_builder_designer.yaml"
    data = yaml.safe_load(saved.read_text())
    assert len(data["steps"]) == steps
    assert {s.get("actor") for s in data["steps"]} == {None, "generateOutline",
                                                       "generateLessons"}

    # Reloaded from its URL: the same session, in a fresh tab.
    url = page.url
    assert "#flow=course_builder&steps=" in url
    fresh = page.context.browser.new_context(viewport={"width": 1440, "height": 900},
                                             reduced_motion="reduce").new_page()
    fresh.goto(url)
    fresh.wait_for_selector("body[data-ready=true]")
    expect(fresh.locator("#configuration")).to_have_text("published")
    assert step_count(fresh) == steps
    assert active(fresh) == ["published"]
    fresh.context.close()

    # The saved file is a CI regression test.
    exe = Path(sys.executable).with_name("flowcheck")
    run = subprocess.run([str(exe), "simulate", "course_builder", "--script", str(saved)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{steps} step(s), every expectation holds" in run.stdout


def test_a_blocked_event_says_why_and_the_reason_follows_the_form(page: Any) -> None:
    pick_flow(page, "course_builder")
    submit = page.locator('#events .event-row:has(button[data-event="BASICS_SUBMITTED"])')
    expect(submit.locator(".status")).to_have_text(
        "BASICS_SUBMITTED changed nothing: title is empty; desiredOutcome is empty "
        "(to selectingSmes also courseId is empty)")
    fire(page, "TITLE_CHANGED")
    fire(page, "DESIRED_OUTCOME_CHANGED")
    fire(page, "BASICS_SUBMITTED")
    outcome(page, "xstate.done.actor.createCourse", "courseId=course_1")
    form = page.locator('#events form[data-event="SME_SELECTED"]')
    expect(form.locator(".status")).to_have_text("")
    form.locator('[name="smeId"]').fill("")
    expect(form.locator(".status")).to_have_text(
        "SME_SELECTED changed nothing: event.smeId is empty")
    form.locator('[name="smeId"]').fill("sme_9")
    expect(form.locator(".status")).to_have_text("")


def test_a_state_s_description_shows_on_hover_and_stays_in_the_side_panel_on_click(
    page: Any,
) -> None:
    pick_flow(page, "course_builder")
    basics = page.locator('#diagram g.node[data-state="basics"]')
    basics.hover()
    expect(page.locator("#tooltip")).to_contain_text(
        "Name the course and say what learners will be able to do.")
    basics.click()
    expect(page.locator("#details")).to_contain_text("BASICS_SUBMITTED → creatingCourse")
    expect(page.locator("#details")).to_contain_text(
        "when title is not empty and desiredOutcome is not empty and courseId is empty")


def test_the_flow_s_description_is_in_the_header(page: Any) -> None:
    pick_flow(page, "course_builder")
    expect(page.locator("#description")).to_have_text(
        "Course builder: the course creation wizard (XState id courseBuilder).")
    page.get_by_role("button", name="About this flow").click()
    expect(page.locator("#about-text")).to_contain_text("Failures, and how the author gets out")


def test_a_scenario_file_plays_in_the_page_with_its_expectations(page: Any) -> None:
    page.locator("#scenario-panel summary").click()
    page.locator('button.cx[data-file="registration.yaml"]').click()
    expect(page.locator("#replay-status")).to_contain_text("step 0 of 20")
    page.get_by_role("button", name="Play to the end").click()
    expect(page.locator("#replay-status")).to_contain_text(
        "replayed all 20 steps, every expectation so far holds", timeout=30_000)
    assert active(page) == ["complete"]


@pytest.mark.parametrize("name", FLOWS)
def test_no_label_overlaps_another_or_a_state_in_the_rendered_diagram(
    page: Any, name: str
) -> None:
    pick_flow(page, name)
    page.locator("#fit").click()
    measured = page.locator("#diagram svg").evaluate(OVERLAPS)
    assert measured["texts"] > 20 and measured["states"] >= 8
    assert measured["overlaps"] == []


def test_course_builder_state_names_are_readable_at_1440x900(page: Any) -> None:
    """Fit-to-screen makes the big flow's text tiny; the page follows the active state
    instead, at a scale where every state name in view is at least 10 px high."""
    pick_flow(page, "course_builder")
    heights = page.locator("#diagram").evaluate(VISIBLE_STATE_NAMES)
    assert [name for name, _ in heights].count("basics") == 1
    assert min(h for _, h in heights) >= 10, heights
    fire(page, "TITLE_CHANGED")
    fire(page, "DESIRED_OUTCOME_CHANGED")
    fire(page, "BASICS_SUBMITTED")
    outcome(page, "xstate.error.actor.createCourse", "unavailable")
    heights = dict(page.locator("#diagram").evaluate(VISIBLE_STATE_NAMES))
    assert heights["network_error"] >= 10, heights
    assert min(heights.values()) >= 10, heights


def test_fit_zoom_and_focus_change_the_view(page: Any) -> None:
    pick_flow(page, "course_builder")
    diagram = page.locator("#diagram")
    followed = float(diagram.get_attribute("data-scale"))
    page.locator("#fit").click()
    fitted = float(diagram.get_attribute("data-scale"))
    assert fitted < followed
    assert not page.locator("#follow").is_checked()
    page.get_by_role("button", name="Zoom in").click()
    assert float(diagram.get_attribute("data-scale")) == pytest.approx(fitted * 1.25, rel=0.01)
    page.select_option("#focus", "failure")
    focused = page.locator('#diagram g.cluster[data-state="failure"] > path').bounding_box()
    pane = diagram.bounding_box()
    assert pane["x"] <= focused["x"] and focused["x"] + focused["width"] <= pane["x"] + pane[
        "width"]
    centre = focused["x"] + focused["width"] / 2
    assert abs(centre - (pane["x"] + pane["width"] / 2)) < 2
    assert float(diagram.get_attribute("data-scale")) > fitted * 1.25


def test_after_switching_flows_hovering_describes_the_new_flow_s_states(page: Any) -> None:
    pick_flow(page, "checkout")
    pick_flow(page, "course_builder")
    page.locator("#fit").click()
    page.locator('#diagram g.node[data-state="cancelled"]').hover()
    expect(page.locator("#tooltip")).to_contain_text("The author left the wizard.")
