//! Issue 22's findings, each as a new user met it in headless Chromium. They run on a
//! fresh page before the protocol walk-through (live-mode findings are in `live.rs`).

use super::*;

/// Pairs of visible arrow labels whose boxes intersect, and how many labels are shown.
fn label_overlaps(driver: &Driver) -> (f64, f64) {
    let found = driver.eval(
        "const boxes = [...document.querySelectorAll('#arrows text')]
           .map(t => t.getBoundingClientRect()).filter(b => b.width > 0);
         let overlaps = 0;
         for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
           const [a, b] = [boxes[i], boxes[j]];
           if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) overlaps++;
         }
         return [overlaps, boxes.length];",
    );
    (found[0].as_f64().unwrap(), found[1].as_f64().unwrap())
}

fn no_labels_overlap(driver: &Driver, when: &str) {
    let (overlaps, shown) = label_overlaps(driver);
    assert_eq!(
        overlaps, 0.0,
        "{when}: {overlaps} pairs of {shown} arrow labels overlap"
    );
}

fn key_label_inside(driver: &Driver) {
    driver.type_into("#key", "cartabcdefghij");
    let degrees = driver.number(&format!("{VIEW}.key.position_turns * 360"));
    assert!(
        (degrees - 247.0).abs() < 1.0,
        "the finding's key: {degrees}"
    );
    let inside = driver.eval(
        "const b = document.querySelector('#key-marker .key-label').getBBox();
         const v = document.getElementById('ring').viewBox.baseVal;
         return b.x >= v.x && b.y >= v.y && b.x + b.width <= v.x + v.width && b.y + b.height <= v.y + v.height;",
    );
    assert_eq!(inside, json!(true), "the key label lies inside the drawing");
}

fn request_and_reply_labels_apart(driver: &Driver) {
    driver.type_into("#key", "shopping-cart-42");
    let list = preference(driver);
    driver.choose("#via", list[0]);
    driver.click("#get");
    no_labels_overlap(driver, "reads in flight");
    let mut labelled = 0.0;
    for step in 0..8 {
        driver.click("#step");
        no_labels_overlap(driver, &format!("step {step} of a get"));
        labelled = f64::max(labelled, label_overlaps(driver).1);
    }
    assert!(labelled >= 2.0, "a request and its reply are labelled");
    driver.choose("#via2", list[1]);
    driver.click("#concurrent");
    no_labels_overlap(driver, "two concurrent writes");
    driver.click("#step");
    no_labels_overlap(driver, "two concurrent writes, one step on");
}

fn many_puts_keep_labels_apart(driver: &Driver) {
    driver.type_into("#nodes", "16");
    driver.click("#reset");
    // Through the simulator directly, then drawn once: what is checked is how that
    // state is drawn (300 clicks, each drawn, take a minute on a busy machine).
    driver.eval(
        "const put = JSON.stringify({op: 'put', via: 1, key: 'cart', value: 'book', context: null});
         for (let i = 0; i < 300; i++) window.dynamoVis.apply(put);
         document.getElementById('key').dispatchEvent(new Event('input')); return 0;",
    );
    assert_eq!(
        driver.number(&format!("{VIEW}.history.length")),
        40.0,
        "the newest 40 are listed"
    );
    assert!(
        count(driver, "#arrows .flight") >= 16.0,
        "the puts are on the wire"
    );
    no_labels_overlap(driver, "16 nodes, 300 puts");
    let badge_clashes = driver.number(
        "(() => { const boxes = [...document.querySelectorAll('#node-badges .badge > text')].map(t => t.getBoundingClientRect());
           let clashes = 0;
           for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
             const [a, b] = [boxes[i], boxes[j]];
             if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) clashes++;
           }
           return clashes; })()",
    );
    assert_eq!(badge_clashes, 0.0, "16 nodes: badge labels overlap");
    driver.click("#advance");
    no_labels_overlap(driver, "16 nodes, 300 puts, 100 ms on");
    driver.screenshot("f03-many-puts");
    driver.type_into("#nodes", "5");
    driver.click("#reset");
}

fn badge_places(driver: &Driver) -> Vec<(String, String)> {
    let places = driver.eval(
        "return [...document.querySelectorAll('#node-badges .badge')].map(b => [b.dataset.node, b.getAttribute('transform')]);",
    );
    serde_json::from_value(places).expect("badge places")
}

fn badges_stay_put(driver: &Driver) {
    let before = badge_places(driver);
    driver.click("#add-node");
    let after = badge_places(driver);
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(
        after[..before.len()],
        before[..],
        "no badge moves when a node is added"
    );
    driver.click("#reset");
}

/// The page fits `width` without sideways scrolling, and the ring stays in view while
/// the activity log is read.
fn fits(driver: &Driver, width: u32, height: u32) {
    driver.resize(width, height);
    let overflow = driver.number("document.documentElement.scrollWidth - window.innerWidth");
    assert!(
        overflow <= 0.0,
        "at {width} px the page overflows by {overflow} px"
    );
    driver.eval("document.getElementById('log').scrollIntoView({block: 'end'}); return 0;");
    let log_bottom = driver.number("document.getElementById('log').getBoundingClientRect().bottom");
    assert!(
        log_bottom <= f64::from(height),
        "the log is on screen: {log_bottom}"
    );
    let visible = driver.number(
        "(() => { const r = document.getElementById('ring').getBoundingClientRect();
          return Math.min(r.bottom, innerHeight) - Math.max(r.top, 0); })()",
    );
    assert!(
        visible >= 150.0,
        "at {width} px the ring is in view while reading the log: {visible} px"
    );
    driver.screenshot(&format!("f05-width-{width}"));
    driver.eval("window.scrollTo(0, 0); return 0;");
}

fn layout_fits_small_screens(driver: &Driver) {
    driver.click("#put"); // panels with something to read
    driver.click("#advance");
    driver.click("#get");
    driver.click("#advance");
    fits(driver, 1024, 768);
    fits(driver, 390, 844);
    driver.resize(1400, 1700);
}

fn share_gives_feedback_and_restores_the_key(driver: &Driver) {
    driver.type_into("#key", "basket");
    driver.click("#share");
    driver.wait_until(
        "share feedback",
        "document.getElementById('share-status').textContent !== ''",
    );
    let shown = driver.eval(
        "const s = document.getElementById('share-status').textContent, l = document.getElementById('share-link');
         return [s, !l.hidden && l.value === location.href];",
    );
    let status = shown[0].as_str().unwrap();
    assert!(
        status.contains("copied") || shown[1] == json!(true),
        "either copied or a link to copy by hand: {shown}"
    );
    let url = driver.eval("return location.href;");
    driver.navigate("about:blank");
    load(driver, url.as_str().unwrap());
    let key = driver.eval("return document.getElementById('key').value;");
    assert_eq!(key, "basket", "the shared link restores the key field");
}

fn n_above_nodes_warns(driver: &Driver) {
    driver.type_into("#nodes", "3");
    driver.type_into("#n", "4");
    driver.click("#reset");
    let warning = driver.eval("return document.getElementById('warning').textContent;");
    let warning = warning.as_str().unwrap();
    assert!(
        warning.contains("N=4") && warning.contains("3 nodes"),
        "{warning:?}"
    );
    driver.type_into("#nodes", "5");
    driver.type_into("#n", "3");
    driver.click("#reset");
    let warning = driver.eval("return document.getElementById('warning').textContent;");
    assert_eq!(warning, "", "no warning once N fits");
}

fn text_of(driver: &Driver, css: &str) -> String {
    let css = serde_json::to_string(css).unwrap();
    let text = driver.eval(&format!(
        "return document.querySelector({css}).textContent;"
    ));
    text.as_str().unwrap_or_default().to_string()
}

fn puts_and_contexts_explained(driver: &Driver) {
    driver.type_into("#key", "cart");
    assert!(
        text_of(driver, "#put").contains("blind"),
        "a blind put says so"
    );
    assert!(text_of(driver, "#put-context").contains("context"));
    driver.click("#put");
    driver.click("#advance");
    driver.click("#get");
    driver.click("#advance");
    driver.click("#put-context");
    driver.click("#advance");
    let blind = text_of(driver, "#history tr[data-index=\"0\"]");
    let over = text_of(driver, "#history tr[data-index=\"2\"]");
    assert!(blind.contains("blind"), "{blind}");
    assert!(over.contains("over context ["), "{over}");
    let context = text_of(driver, "#context");
    assert!(
        context.starts_with("[n") && context.contains(':'),
        "the context decoded: {context}"
    );
    let help = text_of(driver, "#dot-help");
    assert!(
        help.contains("incarnation") && help.contains("counter"),
        "{help}"
    );
}

fn log_numbers_once(driver: &Driver) {
    driver.click("#put");
    driver.click("#advance");
    assert!(count(driver, "#log li") >= 3.0, "the put is logged");
    let repeated = driver.number(
        "[...document.querySelectorAll('#log li')].filter(l => /#(\\d+)\\b.*#\\1\\b/.test(l.textContent)).length",
    );
    assert_eq!(repeated, 0.0, "no log line names its request twice");
}

fn zone_colours_apart_from_node_colours(driver: &Driver) {
    driver.type_into("#zones", "a,b,c,d,e");
    driver.click("#reset");
    let closest = driver.number(&format!(
        "(() => {{ const c = document.createElement('canvas').getContext('2d');
           const rgb = (colour) => {{ c.fillStyle = '#000'; c.fillStyle = colour; const h = c.fillStyle;
             return [1, 3, 5].map(i => parseInt(h.slice(i, i + 2), 16)); }};
           let min = 1e9;
           for (const z of {VIEW}.zones) for (const n of {VIEW}.nodes) {{
             const [a, b] = [rgb(z.colour), rgb(n.colour)];
             min = Math.min(min, Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]));
           }}
           return min; }})()"
    ));
    assert!(
        closest >= 90.0,
        "a zone colour is {closest} from a node colour"
    );
    driver.type_into("#zones", "");
    driver.click("#reset");
}

fn errors_do_not_shift_the_layout(driver: &Driver) {
    let top = "document.getElementById('ring').getBoundingClientRect().top";
    let before = driver.number(top);
    driver.type_into("#node-weights", "x,1,1,1,1");
    driver.click("#reset");
    assert_ne!(text_of(driver, "#error"), "", "the bad weight is refused");
    assert_eq!(driver.number(top), before, "the error moves nothing");
    driver.type_into("#node-weights", "");
    driver.click("#reset");
}

/// A named check of one finding.
type Check = (&'static str, fn(&Driver));

/// Every finding of issue 22 that the simulator page shows, each on a fresh page at
/// `url`; all are run, and the test fails naming every one that failed.
pub fn simulator_findings(driver: &Driver, url: &str) {
    let checks: [Check; 11] = [
        ("key label inside", key_label_inside),
        (
            "request and reply labels apart",
            request_and_reply_labels_apart,
        ),
        ("300 puts keep labels apart", many_puts_keep_labels_apart),
        ("badges stay put", badges_stay_put),
        ("fits 1024 px and a phone", layout_fits_small_screens),
        (
            "share feedback and key",
            share_gives_feedback_and_restores_the_key,
        ),
        ("N above nodes warns", n_above_nodes_warns),
        ("puts and contexts explained", puts_and_contexts_explained),
        ("log numbers once", log_numbers_once),
        ("zone colours apart", zone_colours_apart_from_node_colours),
        ("errors keep the layout", errors_do_not_shift_the_layout),
    ];
    let mut failed = Vec::new();
    for (name, check) in checks {
        driver.navigate("about:blank");
        load(driver, url);
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(driver)));
        if run.is_err() {
            driver.resize(1400, 1700);
            failed.push(name);
        }
    }
    assert!(failed.is_empty(), "findings still there: {failed:?}");
}
