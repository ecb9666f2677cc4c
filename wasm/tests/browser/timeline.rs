//! The timeline (scrub back to any moment of the run, forward again to the same
//! state) and request tracing (one request's messages as a sequence diagram, marking
//! when its quorum was reached).

use super::*;

fn scrub(driver: &Driver, moment: f64) {
    driver.eval(&format!(
        "const s = document.getElementById('scrub'); s.value = {moment}; s.dispatchEvent(new Event('input')); return 0;"
    ));
}

fn state(driver: &Driver) -> Value {
    driver.eval(&format!(
        "return JSON.stringify([{VIEW}.now_ms, {VIEW}.history, {VIEW}.ring.segments]);"
    ))
}

fn timeline_scrubs(driver: &Driver) {
    driver.click("#put");
    driver.click("#advance");
    driver.choose("#via", 4);
    driver.click("#get");
    driver.click("#advance");
    let end = state(driver);
    let moments = driver.number("Number(document.getElementById('scrub').max)");
    assert!(moments > 4.0, "one moment per event: {moments}");
    scrub(driver, 1.0); // just after the put was issued
    let back = driver.eval(&format!(
        "return [{VIEW}.now_ms, {VIEW}.history.length, {VIEW}.history[0].outcome, {VIEW}.in_flight.filter(f => f.message.kind === 'write').length];"
    ));
    assert_eq!(
        back,
        json!([0, 1, "pending", 2]),
        "the put's writes are on the wire again"
    );
    assert!(text(driver, "#scrub-at").contains("moment 1 of"));
    driver.screenshot("p4-scrubbed");
    scrub(driver, moments);
    assert_eq!(state(driver), end, "forward again: the very same state");
}

fn text(driver: &Driver, css: &str) -> String {
    let css = serde_json::to_string(css).unwrap();
    let found = driver.eval(&format!(
        "return document.querySelector({css}).textContent;"
    ));
    found.as_str().unwrap_or_default().to_string()
}

fn trace_shows_one_request(driver: &Driver) {
    driver.click("#history tr[data-index=\"0\"]");
    assert_eq!(
        count(driver, "#trace .lifeline"),
        4.0,
        "the client and the put's three homes"
    );
    let arrows = driver.eval(
        "return [...document.querySelectorAll('#trace .trace-msg')].map(l => [l.dataset.request, l.dataset.kind, Number(l.getAttribute('y2'))]);",
    );
    let arrows = arrows.as_array().unwrap();
    assert!(
        arrows.iter().all(|a| a[0] == "0"),
        "only request #0: {arrows:?}"
    );
    let kinds: Vec<&str> = arrows.iter().map(|a| a[1].as_str().unwrap()).collect();
    for kind in ["client", "write", "write_ok", "reply"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let leave = driver.eval(
        "const y1 = (kind) => [...document.querySelectorAll(`#trace .trace-msg[data-kind=\"${kind}\"]`)].map(l => l.getAttribute('y1'));
         return [...new Set([...y1('client').map(() => document.querySelector('#trace .trace-msg[data-kind=\"client\"]').getAttribute('y2')), ...y1('write')])].length;",
    );
    assert_eq!(leave, json!(1), "both writes leave when the put arrives");
    let label = text(driver, "#trace .quorum-label");
    assert!(label.starts_with("W=2 reached at "), "{label}");
    let mark =
        driver.number("Number(document.querySelector('#trace .quorum-mark').getAttribute('y1'))");
    let y_of = |kind: &'static str| -> Vec<f64> {
        let matching = arrows.iter().filter(|a| a[1] == kind);
        matching.map(|a| a[2].as_f64().unwrap()).collect()
    };
    let first_ok = y_of("write_ok").into_iter().fold(f64::MAX, f64::min);
    let reply = y_of("reply")[0];
    assert!(
        first_ok <= mark && mark == reply,
        "W reached with the first answer, and the reply then: {first_ok} {mark} {reply}"
    );
    driver.eval("document.getElementById('trace-card').scrollIntoView(); return 0;");
    driver.screenshot("p4-trace");
}

pub fn timeline_and_trace(driver: &Driver, page: &str) {
    driver.navigate("about:blank");
    load(driver, page);
    timeline_scrubs(driver);
    trace_shows_one_request(driver);
}
