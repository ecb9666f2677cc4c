//! Native tests of the bindings and the view model: the same code the page runs.

use dynamo_wasm::bindings::{compare_strategies, Visualiser};
use dynamo_wasm::explorer::Explorer;
use dynamo_wasm::scenario::{Action, Scenario, Setup};
use dynamo_wasm::view::{self, View};
use serde_json::Value;

fn put(via: u32, key: &str, value: &str, context: Option<String>) -> Action {
    Action::Put {
        via,
        key: key.into(),
        value: Some(value.into()),
        context,
    }
}

fn get(via: u32, key: &str) -> Action {
    Action::Get {
        via,
        key: key.into(),
    }
}

fn advance(explorer: &mut Explorer, ms: u64) {
    explorer.apply(Action::Advance { ms }).unwrap();
}

fn look(explorer: &Explorer, key: &str) -> View {
    view::build(explorer, Some(key))
}

fn values(view: &View, index: usize) -> Vec<String> {
    let record = view.history.iter().find(|r| r.index == index).unwrap();
    assert_eq!(record.outcome, "ok", "{record:?}");
    let mut values: Vec<String> = record
        .siblings
        .iter()
        .filter_map(|s| s.value.clone())
        .collect();
    values.sort();
    values
}

#[test]
fn ring_has_one_segment_per_partition_and_every_member_owns_some() {
    let explorer = Explorer::new(Setup::default()).unwrap();
    let ring = look(&explorer, "").ring.unwrap();
    assert_eq!(ring.segments.len(), 32);
    for (index, segment) in ring.segments.iter().enumerate() {
        assert_eq!(segment.partition as usize, index);
        assert_eq!(segment.homes.len(), 3);
        assert_eq!(segment.homes[0], segment.owner);
    }
    assert_eq!(ring.segments[31].end_turns, 1.0);
    let owned: Vec<u32> = ring.members.iter().map(|m| m.owned).collect();
    assert_eq!(owned.iter().sum::<u32>(), 32);
    assert!(owned.iter().all(|o| (6..=7).contains(o)), "{owned:?}");
}

#[test]
fn key_shows_its_md5_position_and_homes_before_fallbacks_4_3() {
    let explorer = Explorer::new(Setup::default()).unwrap();
    let key = look(&explorer, "abc").key.unwrap();
    assert_eq!(key.position_hex, "900150983cd24fb0d6963f7d28e17f72"); // RFC 1321
    assert_eq!(key.partition, 0x90 >> 3); // top 5 bits of 0x90... for 32 partitions
    let roles: Vec<&str> = key.preference.iter().map(|p| p.role.as_str()).collect();
    assert_eq!(roles, ["home", "home", "home", "fallback", "fallback"]);
    assert!((key.position_turns - 0x90 as f64 / 256.0).abs() < 0.01);
}

#[test]
fn a_put_through_one_node_is_read_back_through_another_4_5() {
    let mut explorer = Explorer::new(Setup::default()).unwrap();
    explorer.apply(put(1, "cart", "book", None)).unwrap();
    advance(&mut explorer, 100);
    let read = explorer.apply(get(4, "cart")).unwrap().unwrap();
    advance(&mut explorer, 100);
    let view = look(&explorer, "cart");
    assert_eq!(values(&view, read), ["book"]);
    let key = view.key.unwrap();
    let homes: Vec<u32> = key.preference.iter().take(3).map(|p| p.node).collect();
    let holders: Vec<u32> = key.replicas.iter().map(|r| r.node).collect();
    assert_eq!(holders.len(), 3, "{holders:?}");
    assert!(holders.iter().all(|h| homes.contains(h)));
    let kinds: Vec<String> = view
        .activity
        .iter()
        .map(|a| format!("{:?}", a.kind))
        .collect();
    assert!(kinds.contains(&"Client".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"Reply".to_string()), "{kinds:?}");
}

#[test]
fn replicas_written_by_a_put_are_drawn_as_arrows_from_its_coordinator() {
    let mut explorer = Explorer::new(Setup::default()).unwrap();
    let homes: Vec<u32> = look(&explorer, "cart")
        .key
        .unwrap()
        .preference
        .iter()
        .take(3)
        .map(|p| p.node)
        .collect();
    explorer.apply(put(homes[0], "cart", "book", None)).unwrap();
    advance(&mut explorer, 100);
    let writes: Vec<(Option<u32>, Option<u32>)> = explorer
        .activity()
        .filter(|a| format!("{:?}", a.kind) == "Write")
        .map(|a| (a.from, a.to))
        .collect();
    assert_eq!(
        writes,
        [
            (Some(homes[0]), Some(homes[1])),
            (Some(homes[0]), Some(homes[2]))
        ]
        .into_iter()
        .filter(|w| writes.contains(w))
        .collect::<Vec<_>>()
    );
    assert_eq!(writes.len(), 2, "{writes:?}");
}

#[test]
fn concurrent_puts_show_siblings_and_a_merged_put_resolves_them_4_4() {
    let mut explorer = Explorer::new(Setup::default()).unwrap();
    let homes: Vec<u32> = look(&explorer, "cart")
        .key
        .unwrap()
        .preference
        .iter()
        .take(3)
        .map(|p| p.node)
        .collect();
    explorer.apply(put(homes[0], "cart", "left", None)).unwrap();
    explorer
        .apply(put(homes[1], "cart", "right", None))
        .unwrap();
    advance(&mut explorer, 200);
    let read = explorer.apply(get(homes[2], "cart")).unwrap().unwrap();
    advance(&mut explorer, 200);
    let view = look(&explorer, "cart");
    assert_eq!(values(&view, read), ["left", "right"]);
    let context = view
        .history
        .iter()
        .find(|r| r.index == read)
        .unwrap()
        .context
        .clone();
    explorer
        .apply(put(homes[0], "cart", "both", context))
        .unwrap();
    advance(&mut explorer, 200);
    let after = explorer.apply(get(homes[1], "cart")).unwrap().unwrap();
    advance(&mut explorer, 200);
    assert_eq!(values(&look(&explorer, "cart"), after), ["both"]);
}

#[test]
fn a_crashed_home_gets_a_hint_that_is_handed_off_after_restart_4_6() {
    let mut explorer = Explorer::new(Setup::default()).unwrap();
    let homes: Vec<u32> = look(&explorer, "cart")
        .key
        .unwrap()
        .preference
        .iter()
        .take(3)
        .map(|p| p.node)
        .collect();
    explorer.apply(Action::Crash { node: homes[2] }).unwrap();
    // The first put times out on the dead home, which is then suspected ...
    explorer.apply(put(homes[0], "cart", "v1", None)).unwrap();
    advance(&mut explorer, 400);
    // ... so the next one goes to a fallback, with a hint.
    explorer.apply(put(homes[0], "cart", "v2", None)).unwrap();
    advance(&mut explorer, 100);
    let view = look(&explorer, "cart");
    let hints: Vec<_> = view
        .key
        .as_ref()
        .unwrap()
        .replicas
        .iter()
        .filter(|r| r.how == "hint")
        .collect();
    assert_eq!(hints.len(), 1, "{:?}", view.key);
    assert_eq!(hints[0].hint_for, Some(homes[2]));
    let holder = view.nodes.iter().find(|n| n.id == hints[0].node).unwrap();
    assert_eq!(holder.hints[0].target, homes[2]);
    assert!(explorer
        .activity()
        .any(|a| format!("{:?}", a.kind) == "HintedWrite"));
    explorer.apply(Action::Restart { node: homes[2] }).unwrap();
    advance(&mut explorer, 2_000);
    let view = look(&explorer, "cart");
    let key = view.key.unwrap();
    assert!(
        key.replicas.iter().all(|r| r.how == "replica"),
        "{:?}",
        key.replicas
    );
    assert!(key.replicas.iter().any(|r| r.node == homes[2]));
    assert!(explorer
        .activity()
        .any(|a| format!("{:?}", a.kind) == "HandoffAcked"));
}

#[test]
fn adding_a_node_moves_partitions_and_their_transfers_complete_4_9() {
    let mut explorer = Explorer::new(Setup::default()).unwrap();
    for i in 0..20 {
        explorer.apply(put(1, &format!("k{i}"), "v", None)).unwrap();
    }
    advance(&mut explorer, 300);
    let before = look(&explorer, "").ring.unwrap();
    explorer.apply(Action::AddNode).unwrap();
    advance(&mut explorer, 600);
    let join = explorer
        .apply(Action::Join { via: 1, node: 6 })
        .unwrap()
        .unwrap();
    advance(&mut explorer, 50);
    let view = look(&explorer, "");
    assert_eq!(view.history.last().unwrap().index, join);
    assert_eq!(
        view.history.last().unwrap().outcome,
        "ok",
        "{:?}",
        view.history.last()
    );
    let ring = view.ring.unwrap();
    assert_eq!(ring.epoch, before.epoch + 1);
    let owned_by_new = ring.segments.iter().filter(|s| s.owner == 6).count();
    assert_eq!(owned_by_new, 5, "32 partitions over 6 nodes");
    let changed = ring
        .segments
        .iter()
        .zip(&before.segments)
        .filter(|(a, b)| a.owner != b.owner)
        .count();
    assert_eq!(changed, 5, "only the new node's share moves");
    assert!(!view.moves.is_empty());
    assert!(
        ring.segments.iter().any(|s| s.moving),
        "transfers have just started"
    );
    advance(&mut explorer, 5_000);
    let view = look(&explorer, "");
    assert!(
        view.moves.iter().all(|m| m.done.len() == m.added.len()),
        "{:?}",
        view.moves
    );
    assert!(view.ring.unwrap().segments.iter().all(|s| !s.moving));
    assert!(view.nodes[5].keys > 0, "the new node received keys");
}

#[test]
fn a_scenario_replays_to_the_same_view() {
    let mut explorer = Explorer::new(Setup {
        seed: 7,
        ..Setup::default()
    })
    .unwrap();
    explorer.apply(put(2, "a", "1", None)).unwrap();
    explorer.apply(Action::Isolate { node: 3 }).unwrap();
    advance(&mut explorer, 250);
    explorer.apply(Action::Heal).unwrap();
    explorer.apply(Action::Step { events: 17 }).unwrap();
    let text = explorer.scenario().to_json();
    let again = Explorer::replay(&Scenario::from_json(&text).unwrap()).unwrap();
    let json = |e: &Explorer| serde_json::to_string(&view::build(e, Some("a"))).unwrap();
    assert_eq!(json(&again), json(&explorer));
    assert_eq!(again.events(), explorer.events());
}

#[test]
fn refused_actions_leave_the_scenario_alone() {
    let mut explorer = Explorer::new(Setup::default()).unwrap();
    explorer.apply(Action::Crash { node: 2 }).unwrap();
    let down = explorer.apply(get(2, "k")).unwrap_err();
    assert_eq!(down.to_string(), "n2 is down: a client cannot reach it");
    let unknown = explorer.apply(Action::Crash { node: 9 }).unwrap_err();
    assert_eq!(unknown.to_string(), "n9 is not a node of this cluster");
    let context = explorer
        .apply(put(1, "k", "v", Some("garbage".into())))
        .unwrap_err();
    assert!(
        context.to_string().starts_with("bad context: "),
        "{context}"
    );
    assert_eq!(explorer.scenario().actions, [Action::Crash { node: 2 }]);
}

#[test]
fn the_js_surface_speaks_json() {
    let mut visualiser = Visualiser::new(r#"{"nodes": 4, "partitions": 16}"#).unwrap();
    let index = visualiser
        .apply(r#"{"op":"put","via":1,"key":"cart","value":"book","context":null}"#)
        .unwrap();
    assert_eq!(index, 0);
    assert_eq!(
        visualiser.apply(r#"{"op":"advance","ms":100}"#).unwrap(),
        -1
    );
    let view: Value = serde_json::from_str(&visualiser.view("cart")).unwrap();
    assert_eq!(view["ring"]["segments"].as_array().unwrap().len(), 16);
    assert_eq!(view["nodes"].as_array().unwrap().len(), 4);
    assert_eq!(view["history"][0]["outcome"], "ok");
    let again = Visualiser::replay(&visualiser.scenario()).unwrap();
    assert_eq!(again.view("cart"), visualiser.view("cart"));
    assert!(Visualiser::new(r#"{"nodes": 0}"#)
        .unwrap_err()
        .contains("nodes must be in 1..=16"));
    assert!(visualiser
        .apply(r#"{"op":"fly"}"#)
        .unwrap_err()
        .starts_with("bad json: "));
    let balance: Value =
        serde_json::from_str(&compare_strategies(r#"{"weights":[1,1,1,1]}"#).unwrap()).unwrap();
    assert!(balance["partition_ring"]["efficiency"].as_f64().unwrap() > 0.9);
}

#[test]
fn an_acknowledged_put_lists_the_replicas_holding_it() {
    let mut explorer = Explorer::new(Setup::default()).unwrap();
    let index = explorer
        .apply(put(1, "cart", "book", None))
        .unwrap()
        .unwrap();
    advance(&mut explorer, 100);
    let view = look(&explorer, "cart");
    let record = &view.history[index];
    assert_eq!(record.quorum, "W=2 of N=3");
    let holders: Vec<(u32, &str)> = record
        .holders
        .iter()
        .map(|h| (h.node, h.how.as_str()))
        .collect();
    assert_eq!(holders.len(), 3, "{holders:?}");
    assert!(holders.iter().all(|(_, how)| *how == "replica"));
}

#[test]
fn anti_entropy_repairs_a_replica_that_missed_writes_and_is_logged_4_7() {
    let mut explorer = Explorer::new(Setup::default()).unwrap();
    let homes: Vec<u32> = look(&explorer, "k")
        .key
        .unwrap()
        .preference
        .iter()
        .take(3)
        .map(|p| p.node)
        .collect();
    explorer.apply(Action::Isolate { node: homes[2] }).unwrap();
    explorer.apply(put(homes[0], "k", "v", None)).unwrap();
    advance(&mut explorer, 300);
    explorer.apply(Action::Heal).unwrap();
    let before = look(&explorer, "k").key.unwrap();
    assert!(
        before.replicas.iter().all(|r| r.node != homes[2]),
        "the isolated home missed the put"
    );
    // Each node compares one partition per round, so a full pass takes a while.
    advance(&mut explorer, 30_000);
    let key = look(&explorer, "k").key.unwrap();
    let roots: Vec<&Option<String>> = key
        .replicas
        .iter()
        .filter(|r| r.how == "replica")
        .map(|r| &r.merkle_root)
        .collect();
    assert_eq!(roots.len(), 3, "{:?}", key.replicas);
    assert!(
        roots.windows(2).all(|w| w[0] == w[1]),
        "merkle roots agree after repair: {roots:?}"
    );
    let kinds: Vec<String> = explorer
        .activity()
        .map(|a| format!("{:?}", a.kind))
        .collect();
    assert!(kinds.iter().any(|k| k == "AntiEntropy"), "{kinds:?}");
}

#[test]
fn concurrent_writes_are_drawn_from_the_coordinator_that_minted_them() {
    let mut explorer = Explorer::new(Setup::default()).unwrap();
    let homes: Vec<u32> = look(&explorer, "cart")
        .key
        .unwrap()
        .preference
        .iter()
        .take(3)
        .map(|p| p.node)
        .collect();
    explorer.apply(put(homes[0], "cart", "left", None)).unwrap();
    explorer
        .apply(put(homes[1], "cart", "right", None))
        .unwrap();
    advance(&mut explorer, 100);
    let mut writes: Vec<(u32, u32)> = explorer
        .activity()
        .filter(|a| format!("{:?}", a.kind) == "Write")
        .map(|a| (a.from.unwrap(), a.to.unwrap()))
        .collect();
    writes.sort();
    let mut expected = vec![
        (homes[0], homes[1]),
        (homes[0], homes[2]),
        (homes[1], homes[0]),
        (homes[1], homes[2]),
    ];
    expected.sort();
    assert_eq!(writes, expected);
}
