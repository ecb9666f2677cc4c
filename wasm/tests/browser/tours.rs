//! The guided scenarios (`wasm/www/tours.js`), each walked end to end as a reader
//! would, with a screenshot per step; then one linked straight to a step, and
//! stepped back and replayed.

use super::*;

fn narration(driver: &Driver) -> String {
    let text = driver.eval("return document.getElementById('tour-say').textContent;");
    text.as_str().unwrap_or_default().to_string()
}

/// Start `name` and press next until its last step; the narration of every step.
fn walk(driver: &Driver, page: &str, name: &str) -> Vec<String> {
    driver.navigate("about:blank");
    load(driver, &format!("{page}#tour={name}&step=0"));
    let mut said = vec![narration(driver)];
    driver.screenshot(&format!("t-{name}-1"));
    for step in 2..=12 {
        if driver.eval("return document.getElementById('tour').dataset.last;") == json!("true") {
            break;
        }
        driver.click("#tour-next");
        let error = driver.eval("return document.getElementById('error').textContent;");
        assert_eq!(error, "", "{name}: step {step} ran without error");
        said.push(narration(driver));
        driver.screenshot(&format!("t-{name}-{step}"));
    }
    let filled = |s: &String| !s.is_empty() && !s.contains("undefined") && !s.contains("NaN");
    assert!(
        said.iter().all(filled),
        "{name}: every step narrates: {said:?}"
    );
    println!("tour {name}:\n  {}", said.join("\n  "));
    said
}

fn said_in(said: &[String], step: usize, text: &str) {
    assert!(
        said[step].contains(text),
        "step {}: {text:?} not in {:?}",
        step + 1,
        said[step]
    );
}

pub fn every_scenario(driver: &Driver, page: &str) {
    let said = walk(driver, page, "quorum");
    said_in(&said, 2, "W=2 reached at t=");
    said_in(&said, 4, "R=2 reached at t=");
    said_in(&said, 4, "returns book [");
    let said = walk(driver, page, "siblings");
    said_in(&said, 3, "returns 2 siblings: left [");
    said_in(&said, 4, "returns 1 version: merged [");
    let said = walk(driver, page, "handoff");
    said_in(&said, 2, "with a hint naming n");
    said_in(&said, 3, "hands the hinted write off");
    said_in(&said, 4, "hints left: 0");
    let said = walk(driver, page, "anti-entropy");
    said_in(&said, 0, "missed the write");
    said_in(&said, 1, "holds k again");
    let roots = driver.eval(&format!(
        "return [...new Set({VIEW}.key.replicas.filter(r => r.how === 'replica').map(r => r.merkle_root))].length;"
    ));
    assert_eq!(roots, json!(1), "the replicas' Merkle roots agree");
    let said = walk(driver, page, "join");
    said_in(&said, 1, "partitions change home replicas");
    said_in(&said, 2, "transfers are done");
    let said = walk(driver, page, "strategies");
    said_in(&said, 1, "64 tokens per node");
    linked_back_and_replayed(driver, page);
}

fn linked_back_and_replayed(driver: &Driver, page: &str) {
    let steps = walk(driver, page, "siblings");
    driver.navigate("about:blank");
    load(driver, &format!("{page}#tour=siblings&step=3"));
    assert_eq!(narration(driver), steps[3], "a link reaches the same step");
    driver.click("#tour-back");
    assert_eq!(
        narration(driver),
        steps[2],
        "back replays to the step before"
    );
    driver.click("#tour-restart");
    assert_eq!(
        narration(driver),
        steps[0],
        "start replays from the first step"
    );
    let url = driver.eval("return location.hash;");
    assert_eq!(url, "#tour=siblings&step=0");
}
