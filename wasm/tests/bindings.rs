//! Native tests of the bindings and the view model: the same code the page runs.
//!
//! The messages asserted on are the simulator's own (`Sim::last_event`,
//! `Sim::in_flight`): which node sent which kind to whom, for which key and request.

use dynamo_wasm::activity::{Activity, Kind};
use dynamo_wasm::bindings::{compare_strategies, context_clock, key_partition, Visualiser};
use dynamo_wasm::explorer::Explorer;
use dynamo_wasm::scenario::{Action, Scenario, Setup};
use dynamo_wasm::view::{self, View};
use dynamo_wasm::wire::MessageKind;
use serde_json::Value;
use std::collections::BTreeSet;

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

/// The first `n` nodes of `key`'s preference list (its homes, for n = N).
fn preference(explorer: &Explorer, key: &str, n: usize) -> Vec<u32> {
    let key = look(explorer, key).key.unwrap();
    key.preference.iter().take(n).map(|p| p.node).collect()
}

fn homes(explorer: &Explorer, key: &str) -> Vec<u32> {
    preference(explorer, key, 3)
}

/// Advance `ms` in 50 ms actions, collecting everything the page was handed to draw
/// (the activity log itself keeps only the newest entries).
fn watch(explorer: &mut Explorer, ms: u64) -> Vec<Activity> {
    let mut seen = Vec::new();
    for _ in 0..ms.div_ceil(50) {
        advance(explorer, 50);
        seen.extend_from_slice(explorer.fresh());
    }
    seen
}

/// A delivered message, as the tests compare it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Seen {
    from: u32,
    to: u32,
    key: Option<String>,
    hint: Option<u32>,
    request: Option<usize>,
}

/// The messages of `kind` delivered to running nodes, in `seen`.
fn delivered(seen: &[Activity], kind: MessageKind) -> Vec<Seen> {
    seen.iter()
        .filter(|a| a.kind == Kind::Message)
        .filter_map(|a| Some((a, a.message.as_ref()?)))
        .filter(|(_, m)| m.kind == kind)
        .map(|(a, m)| Seen {
            from: a.from.unwrap(),
            to: a.to.unwrap(),
            key: m.key.clone(),
            hint: m.hint,
            request: m.request,
        })
        .collect()
}

/// The (from, to) pairs of `messages` that serve `request`, sorted.
fn ends(messages: &[Seen], request: usize) -> Vec<(u32, u32)> {
    let mut ends: Vec<(u32, u32)> = messages
        .iter()
        .filter(|m| m.request == Some(request))
        .map(|m| (m.from, m.to))
        .collect();
    ends.sort();
    ends
}

fn sorted(mut pairs: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    pairs.sort();
    pairs
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
    let kinds: Vec<Kind> = view.activity.iter().map(|a| a.kind).collect();
    assert!(kinds.contains(&Kind::Client), "{kinds:?}");
    assert!(kinds.contains(&Kind::Reply), "{kinds:?}");
}

#[test]
fn a_put_through_a_home_writes_to_the_other_homes_and_counts_their_write_oks_4_5() {
    let mut explorer = Explorer::new(Setup::default()).unwrap();
    let homes = homes(&explorer, "cart");
    let put = explorer
        .apply(put(homes[0], "cart", "book", None))
        .unwrap()
        .unwrap();
    // Before any event: the coordinator stored its copy and its writes are on the wire.
    let view = look(&explorer, "cart");
    let on_wire: Vec<_> = view
        .in_flight
        .iter()
        .filter(|f| f.message.kind == MessageKind::Write)
        .collect();
    let pairs = on_wire.iter().map(|f| (f.from, f.to)).collect();
    assert_eq!(
        sorted(pairs),
        sorted(vec![(homes[0], homes[1]), (homes[0], homes[2])])
    );
    for flight in &on_wire {
        assert_eq!(flight.message.key.as_deref(), Some("cart"));
        assert_eq!(flight.message.request, Some(put));
        assert_eq!(flight.sent_ms, view.now_ms);
        assert!(flight.deliver_ms > flight.sent_ms, "{flight:?}");
    }
    let seen = watch(&mut explorer, 100);
    let writes = delivered(&seen, MessageKind::Write);
    assert_eq!(writes.len(), 2, "{writes:?}");
    assert!(writes
        .iter()
        .all(|w| w.key.as_deref() == Some("cart") && w.hint.is_none()));
    assert_eq!(
        ends(&writes, put),
        [(homes[0], homes[1]), (homes[0], homes[2])]
    );
    let oks = delivered(&seen, MessageKind::WriteOk);
    assert_eq!(
        ends(&oks, put),
        sorted(vec![(homes[1], homes[0]), (homes[2], homes[0])])
    );
    let record = look(&explorer, "cart").history[put].clone();
    assert_eq!((record.needed, record.acked), (2, 2), "{record:?}");
    let answers: Vec<(u32, &str)> = record
        .answers
        .iter()
        .map(|a| (a.node, a.how.as_str()))
        .collect();
    assert_eq!(
        answers[0],
        (homes[0], "local"),
        "its own write counts first"
    );
    assert_eq!(answers.len(), 3, "{answers:?}");
    let in_time = record.answers.iter().filter(|a| a.in_time).count();
    assert_eq!(in_time, 2, "W = 2: its own write and the first write ok");
    assert!(seen
        .iter()
        .any(|a| a.kind == Kind::Reply && a.request == Some(put)));
}

#[test]
fn a_get_reads_from_the_homes_and_its_quorum_is_the_read_oks_4_5() {
    let mut explorer = Explorer::new(Setup::default()).unwrap();
    let list = preference(&explorer, "cart", 4);
    let (homes, outsider) = (&list[..3], list[3]);
    explorer.apply(put(homes[0], "cart", "book", None)).unwrap();
    watch(&mut explorer, 100);
    let read = explorer.apply(get(outsider, "cart")).unwrap().unwrap();
    let seen = watch(&mut explorer, 100);
    let to_homes: Vec<(u32, u32)> = homes.iter().map(|h| (outsider, *h)).collect();
    let from_homes: Vec<(u32, u32)> = homes.iter().map(|h| (*h, outsider)).collect();
    assert_eq!(ends(&delivered(&seen, MessageKind::Read), read), to_homes);
    assert_eq!(
        ends(&delivered(&seen, MessageKind::ReadOk), read),
        from_homes
    );
    let view = look(&explorer, "cart");
    assert_eq!(values(&view, read), ["book"]);
    let record = &view.history[read];
    assert_eq!((record.needed, record.acked), (2, 2), "{record:?}");
    assert!(
        record.answers.iter().all(|a| a.how == "ok"),
        "not a replica: no local read"
    );
    assert_eq!(record.answers.len(), 3, "the third answer comes late");
    assert_eq!(record.answers.iter().filter(|a| a.in_time).count(), 2);
}

#[test]
fn a_put_through_another_node_is_forwarded_to_a_home_which_coordinates_it() {
    let mut explorer = Explorer::new(Setup::default()).unwrap();
    let list = preference(&explorer, "cart", 4);
    let (home, outsider) = (list[0], list[3]);
    let put = explorer
        .apply(put(outsider, "cart", "book", None))
        .unwrap()
        .unwrap();
    let seen = watch(&mut explorer, 100);
    let forward = delivered(&seen, MessageKind::Forward);
    assert_eq!(ends(&forward, put), [(outsider, home)]);
    assert_eq!(forward[0].key.as_deref(), Some("cart"));
    let writes = ends(&delivered(&seen, MessageKind::Write), put);
    assert_eq!(writes, [(home, list[1]), (home, list[2])]);
    let back = delivered(&seen, MessageKind::Forwarded);
    assert_eq!(ends(&back, put), [(home, outsider)]);
    let record = &look(&explorer, "cart").history[put];
    assert_eq!(record.outcome, "ok");
    assert_eq!(record.answers[0].node, home, "the home's own write counted");
    assert_eq!(record.acked, 2);
}

#[test]
fn one_step_delivers_one_message_and_the_page_sees_which() {
    let mut explorer = Explorer::new(Setup::default()).unwrap();
    let homes = homes(&explorer, "cart");
    let put = explorer
        .apply(put(homes[0], "cart", "book", None))
        .unwrap()
        .unwrap();
    let before = look(&explorer, "cart").in_flight;
    explorer.apply(Action::Step { events: 1 }).unwrap();
    let view = look(&explorer, "cart");
    let last = view.last_event.clone().unwrap();
    assert_eq!(last.kind, Kind::Message, "{last:?}");
    let message = last.message.as_ref().unwrap();
    assert_eq!(message.kind, MessageKind::Write);
    assert_eq!((last.from, message.request), (Some(homes[0]), Some(put)));
    assert!(
        last.detail.contains("sends write ok to n"),
        "the replica answers at once: {}",
        last.detail
    );
    assert_eq!(view.fresh.first(), Some(&last));
    let first = before.first().unwrap();
    assert_eq!(Some(first.to), last.to, "the soonest due arrives first");
    let answer: Vec<_> = view
        .in_flight
        .iter()
        .filter(|f| f.message.kind == MessageKind::WriteOk)
        .collect();
    assert_eq!(answer.len(), 1);
    assert_eq!((answer[0].from, answer[0].to), (first.to, homes[0]));
    assert_eq!(answer[0].message.request, Some(put));
}

#[test]
fn gossip_and_its_timers_are_drawn_4_8() {
    let mut explorer = Explorer::new(Setup::default()).unwrap();
    let seen = watch(&mut explorer, 1_000);
    let gossip = delivered(&seen, MessageKind::Gossip);
    let senders: BTreeSet<u32> = gossip.iter().map(|g| g.from).collect();
    assert_eq!(
        senders.len(),
        5,
        "every node gossips within a second: {gossip:?}"
    );
    assert!(gossip.iter().all(|g| g.from != g.to && g.request.is_none()));
    let rounds = seen
        .iter()
        .filter(|a| {
            a.kind == Kind::Timer && a.detail.starts_with("gossip round → sends gossip to n")
        })
        .count();
    assert!(rounds >= 5, "{rounds}");
}

#[test]
fn concurrent_puts_show_siblings_and_a_merged_put_resolves_them_4_4() {
    let mut explorer = Explorer::new(Setup::default()).unwrap();
    let homes = homes(&explorer, "cart");
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

/// With `homes[2]` down: a put's write to it is lost, the put times out and the home is
/// suspected, so the next put writes to `fallback` with a hint naming the home.
fn hinted_write_to_the_fallback(explorer: &mut Explorer, homes: &[u32], fallback: u32) {
    // The first put's write to the dead home is lost; it times out and is suspected ...
    let first = explorer
        .apply(put(homes[0], "cart", "v1", None))
        .unwrap()
        .unwrap();
    let seen = watch(explorer, 400);
    let lost = seen.iter().find(|a| a.kind == Kind::Lost).unwrap();
    let message = lost.message.as_ref().unwrap();
    assert_eq!((lost.from, lost.to), (Some(homes[0]), Some(homes[2])));
    assert_eq!(
        (message.kind, message.request),
        (MessageKind::Write, Some(first))
    );
    // ... so the next one goes to a fallback, with a hint naming the home.
    let second = explorer
        .apply(put(homes[0], "cart", "v2", None))
        .unwrap()
        .unwrap();
    let seen = watch(explorer, 100);
    let hinted: Vec<Seen> = delivered(&seen, MessageKind::Write)
        .into_iter()
        .filter(|w| w.hint.is_some())
        .collect();
    assert_eq!(
        hinted,
        [Seen {
            from: homes[0],
            to: fallback,
            key: Some("cart".into()),
            hint: Some(homes[2]),
            request: Some(second),
        }]
    );
    let write = seen
        .iter()
        .find(|a| a.message.as_ref().and_then(|m| m.hint).is_some());
    let detail = &write.unwrap().detail;
    assert!(
        detail.starts_with(&format!("for n{}, version [", homes[2])),
        "{detail}"
    );
    let stored = seen.iter().find(|a| a.kind == Kind::HintStored).unwrap();
    assert_eq!(stored.node, fallback);
    let view = look(explorer, "cart");
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
}

#[test]
fn a_crashed_home_gets_a_hint_that_is_handed_off_after_restart_4_6() {
    let mut explorer = Explorer::new(Setup::default()).unwrap();
    let homes = homes(&explorer, "cart");
    let fallback = preference(&explorer, "cart", 4)[3];
    explorer.apply(Action::Crash { node: homes[2] }).unwrap();
    hinted_write_to_the_fallback(&mut explorer, &homes, fallback);
    explorer.apply(Action::Restart { node: homes[2] }).unwrap();
    let seen = watch(&mut explorer, 2_000);
    let handoffs = delivered(&seen, MessageKind::Handoff);
    assert!(
        handoffs.iter().any(
            |h| (h.from, h.to, h.hint) == (fallback, homes[2], Some(homes[2]))
                && h.key.as_deref() == Some("cart")
        ),
        "{handoffs:?}"
    );
    let acked = delivered(&seen, MessageKind::HandoffOk);
    assert!(acked.iter().any(|h| (h.from, h.to) == (homes[2], fallback)));
    let deleted = seen.iter().find(|a| a.kind == Kind::HintDeleted).unwrap();
    assert_eq!(deleted.node, fallback);
    let view = look(&explorer, "cart");
    let key = view.key.unwrap();
    assert!(
        key.replicas.iter().all(|r| r.how == "replica"),
        "{:?}",
        key.replicas
    );
    assert!(key.replicas.iter().any(|r| r.node == homes[2]));
}

#[test]
fn adding_a_node_moves_partitions_and_their_transfers_complete_4_9() {
    let mut explorer = Explorer::new(Setup::default()).unwrap();
    for i in 0..20 {
        explorer.apply(put(1, &format!("k{i}"), "v", None)).unwrap();
    }
    advance(&mut explorer, 300);
    let before = look(&explorer, "").ring.unwrap();
    explorer
        .apply(Action::AddNode {
            weight: 1,
            zone: None,
        })
        .unwrap();
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
    let seen = watch(&mut explorer, 5_000);
    let transfers = delivered(&seen, MessageKind::Transfer);
    assert!(transfers.iter().any(|t| t.to == 6), "{transfers:?}");
    let acks = delivered(&seen, MessageKind::TransferOk);
    assert!(acks.iter().any(|t| t.from == 6), "{acks:?}");
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

fn five_in_three_zones() -> Setup {
    let zones = ["a", "a", "b", "b", "c"];
    Setup {
        weights: vec![1, 1, 2, 2, 2],
        zones: zones.iter().map(|z| Some(z.to_string())).collect(),
        ..Setup::default()
    }
}

#[test]
fn the_view_carries_weights_zones_and_shares_4_2() {
    let explorer = Explorer::new(five_in_three_zones()).unwrap();
    let view = look(&explorer, "cart");
    let ring = view.ring.unwrap();
    let owned: Vec<(u32, u32, u32)> = ring
        .members
        .iter()
        .map(|m| (m.node, m.weight, m.owned))
        .collect();
    // 32 partitions over weights 1+1+2+2+2: shares 4, 4, 8, 8, 8.
    assert_eq!(
        owned,
        [(1, 1, 4), (2, 1, 4), (3, 2, 8), (4, 2, 8), (5, 2, 8)]
    );
    let node = |id: usize| &view.nodes[id - 1];
    assert_eq!((node(3).weight, node(3).zone.as_deref()), (2, Some("b")));
    assert_eq!(
        node(3).zone_colour,
        node(4).zone_colour,
        "one colour per zone"
    );
    // Zones share two neutral tones and differ by tone and dash pattern together.
    let styles: std::collections::BTreeSet<(String, String)> = view
        .zones
        .iter()
        .map(|z| (z.colour.clone(), z.dash.clone()))
        .collect();
    assert_eq!(styles.len(), view.zones.len(), "one style per zone");
    let zones: Vec<(&str, Vec<u32>, u32)> = view
        .zones
        .iter()
        .map(|z| (z.name.as_str(), z.nodes.clone(), z.owned))
        .collect();
    assert_eq!(
        zones,
        [
            ("a", vec![1, 2], 8),
            ("b", vec![3, 4], 16),
            ("c", vec![5], 8)
        ]
    );
    for segment in &ring.segments {
        assert_eq!(segment.zone, node(segment.owner as usize).zone);
    }
}

#[test]
fn a_preference_list_takes_one_node_per_zone_first_4_3() {
    let explorer = Explorer::new(five_in_three_zones()).unwrap();
    for key in ["cart", "basket", "k1", "k2", "k3", "k4"] {
        let list = look(&explorer, key).key.unwrap().preference;
        let homes: BTreeSet<Option<String>> = list[..3].iter().map(|p| p.zone.clone()).collect();
        assert_eq!(homes.len(), 3, "{key}: homes in zones a, b and c");
        let repeats: Vec<bool> = list.iter().map(|p| p.zone_repeat).collect();
        assert_eq!(repeats, [false, false, false, true, true], "{key}");
    }
}

#[test]
fn an_added_node_brings_its_weight_and_zone_into_the_ring_4_9() {
    let mut explorer = Explorer::new(five_in_three_zones()).unwrap();
    let refused = Action::AddNode {
        weight: 0,
        zone: None,
    };
    let error = explorer.apply(refused).unwrap_err().to_string();
    assert_eq!(error, "weight of n6 must be in 1..=1000, got 0");
    assert!(explorer.scenario().actions.is_empty());
    let before = look(&explorer, "").zones;
    let colours: Vec<String> = before.iter().map(|z| z.colour.clone()).collect();
    let add = Action::AddNode {
        weight: 2,
        zone: Some("d".into()),
    };
    explorer.apply(add).unwrap();
    let view = look(&explorer, "");
    let new = view.nodes.last().unwrap();
    assert_eq!((new.id, new.weight, new.zone.as_deref()), (6, 2, Some("d")));
    assert!(!new.in_ring);
    advance(&mut explorer, 600);
    explorer.apply(Action::Join { via: 1, node: 6 }).unwrap();
    advance(&mut explorer, 100);
    let view = look(&explorer, "");
    let ring = view.ring.unwrap();
    let owned = |node: u32| ring.members.iter().find(|m| m.node == node).unwrap().owned;
    // 32 partitions over weights 1+1+2+2+2+2: a weight-2 share is 6.4, a weight-1 3.2.
    assert!((6..=7).contains(&owned(6)), "{:?}", ring.members);
    assert!(owned(6) > owned(1) && owned(6) > owned(2));
    let names: Vec<&str> = view.zones.iter().map(|z| z.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c", "d"]);
    let kept: Vec<String> = view.zones[..3].iter().map(|z| z.colour.clone()).collect();
    assert_eq!(kept, colours, "a new zone does not recolour the others");
    let replayed = Explorer::replay(explorer.scenario()).unwrap();
    let json = |e: &Explorer| serde_json::to_string(&view::build(e, Some("cart"))).unwrap();
    assert_eq!(json(&replayed), json(&explorer));
}

#[test]
fn the_js_surface_takes_weights_and_zones() {
    let setup = r#"{"nodes": 3, "weights": [1, 1, 2], "zones": ["a", null, "b"]}"#;
    let visualiser = Visualiser::new(setup).unwrap();
    let view: Value = serde_json::from_str(&visualiser.view("")).unwrap();
    assert_eq!(view["nodes"][2]["weight"], 2);
    assert_eq!(view["nodes"][1]["zone"], Value::Null);
    assert_eq!(view["zones"].as_array().unwrap().len(), 2);
    let error = Visualiser::new(r#"{"nodes": 3, "weights": [1, 2]}"#).unwrap_err();
    assert!(error.starts_with("weights lists 2 nodes"), "{error}");
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
    let homes = homes(&explorer, "k");
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
    let seen = watch(&mut explorer, 30_000);
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
    let levels = delivered(&seen, MessageKind::TreeLevel);
    assert!(levels
        .iter()
        .any(|l| l.to == homes[2] || l.from == homes[2]));
    let repair = seen.iter().find(|a| {
        let sync = a.message.as_ref().map(|m| m.kind) == Some(MessageKind::TreeSync);
        sync && a.to == Some(homes[2]) && a.detail.contains("repaired 1 key(s)")
    });
    assert!(
        repair.is_some(),
        "a tree sync brought the key to the home that missed it"
    );
}

#[test]
fn concurrent_puts_write_from_their_own_coordinators_4_4() {
    let mut explorer = Explorer::new(Setup::default()).unwrap();
    let homes = homes(&explorer, "cart");
    let left = explorer
        .apply(put(homes[0], "cart", "left", None))
        .unwrap()
        .unwrap();
    let right = explorer
        .apply(put(homes[1], "cart", "right", None))
        .unwrap()
        .unwrap();
    let seen = watch(&mut explorer, 100);
    let writes = delivered(&seen, MessageKind::Write);
    assert_eq!(
        ends(&writes, left),
        [(homes[0], homes[1]), (homes[0], homes[2])]
    );
    assert_eq!(
        ends(&writes, right),
        sorted(vec![(homes[1], homes[0]), (homes[1], homes[2])])
    );
}

#[test]
fn a_run_of_advances_replays_to_the_same_events() {
    let mut explorer = Explorer::new(Setup::default()).unwrap();
    explorer.apply(put(1, "a", "v", None)).unwrap();
    for _ in 0..30 {
        advance(&mut explorer, 10);
    }
    explorer.apply(Action::Crash { node: 1 }).unwrap();
    for node in 2..=5 {
        explorer.apply(Action::Crash { node }).unwrap();
    }
    for _ in 0..3 {
        advance(&mut explorer, 1_000); // nothing left to run: idle time
    }
    let actions = &explorer.scenario().actions;
    assert!(actions.len() < 12, "time steps merge: {actions:?}");
    let again =
        Explorer::replay(&Scenario::from_json(&explorer.scenario().to_json()).unwrap()).unwrap();
    assert_eq!(again.events(), explorer.events());
    assert_eq!(again.sim().now_ms(), explorer.sim().now_ms());
    let json = |e: &Explorer| serde_json::to_string(&view::build(e, Some("a"))).unwrap();
    assert_eq!(json(&again), json(&explorer));
}

#[test]
fn a_trace_holds_one_request_and_its_messages_only() {
    let mut visualiser = Visualiser::new("{}").unwrap();
    let put = r#"{"op":"put","via":1,"key":"cart","value":"book","context":null}"#;
    assert_eq!(visualiser.apply(put).unwrap(), 0);
    let get = r#"{"op":"get","via":2,"key":"cart"}"#;
    assert_eq!(visualiser.apply(get).unwrap(), 1);
    let on_wire: Value = serde_json::from_str(&visualiser.trace(0).unwrap()).unwrap();
    let flights = on_wire["in_flight"].as_array().unwrap();
    assert!(!flights.is_empty(), "the put's writes are on the wire");
    assert!(flights.iter().all(|f| f["message"]["request"] == 0));
    visualiser.apply(r#"{"op":"advance","ms":100}"#).unwrap();
    assert_eq!(visualiser.now_ms(), 100.0);
    let trace: Value = serde_json::from_str(&visualiser.trace(0).unwrap()).unwrap();
    assert_eq!(trace["record"]["outcome"], "ok");
    let activities = trace["activities"].as_array().unwrap();
    assert!(
        activities.iter().all(|a| a["request"] == 0),
        "only request #0"
    );
    let kinds: Vec<&str> = activities
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"client"));
    assert!(kinds.contains(&"reply"));
    let writes = activities
        .iter()
        .filter(|a| a["message"]["kind"] == "write")
        .count();
    assert_eq!(writes, 2, "a write to each other home: {kinds:?}");
    for delivered in activities.iter().filter(|a| a["kind"] == "message") {
        let (sent, at) = (delivered["sent_ms"].as_u64(), delivered["at_ms"].as_u64());
        assert!(
            sent.is_some() && sent <= at,
            "sent before delivered: {delivered}"
        );
        if delivered["message"]["kind"] == "write" {
            assert_eq!(sent, Some(0), "the writes left with the put, at 0 ms");
        }
    }
    assert!(visualiser.trace(7).is_err(), "no request #7");
}

#[test]
fn a_real_key_and_context_are_decoded_with_the_cores_code() {
    let explorer = Explorer::new(Setup::default()).unwrap();
    let key = look(&explorer, "cart").key.unwrap();
    assert_eq!(
        key_partition("cart", 32).unwrap(),
        key.partition,
        "the simulator's hash"
    );
    assert!(key_partition("cart", 0).is_err());
    let mut visualiser = Visualiser::new("{}").unwrap();
    let put = r#"{"op":"put","via":1,"key":"cart","value":"book","context":null}"#;
    visualiser.apply(put).unwrap();
    visualiser.apply(r#"{"op":"advance","ms":100}"#).unwrap();
    let view: Value = serde_json::from_str(&visualiser.view("cart")).unwrap();
    let record = &view["history"][0];
    let text = record["context"].as_str().unwrap();
    assert_eq!(
        context_clock(text).unwrap(),
        record["context_clock"].as_str().unwrap()
    );
    assert!(context_clock("not a context").is_err());
}
