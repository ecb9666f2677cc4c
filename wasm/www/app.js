// The page only draws: every number, owner, colour and arrow comes from the Rust view
// model (dynamo-wasm), which runs dynamo-core's simulator. See wasm/src/view.rs.
// Live mode draws a running cluster's `/v1/cluster` document instead, as it comes.

// From the WASM package, imported in main() rather than statically: live mode must
// work from a node even when scripts/build-wasm.sh has not built the package.
import { TOURS, TOUR_SETUP, tourTools } from './tours.js';

let Visualiser = null;
let compare_strategies = null;
let liveTools = null; // the core's key hash and context decoder, once the WASM is loaded

const SVG = 'http://www.w3.org/2000/svg';
const R_OUT = 285, R_IN = 240, R_NODES = 165, R_BADGE = 20;
const ARROWS_MAX = 40; // drawn per action; older ones would only clutter
const TICK_MS = 450;
const KEY_LABEL_MAX = 24; // characters; the full key is in the label's tooltip

const $ = (id) => document.getElementById(id);
let vis = null;
let view = null;
let playing = null;
const contexts = new Map(); // key -> context text of its latest reply

function svg(tag, attrs, parent) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (parent) parent.appendChild(node);
  return node;
}

function html(tag, attrs, text, parent) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

// Turns (0..1 clockwise from the top) to coordinates.
function polar(turns, radius) {
  const angle = turns * 2 * Math.PI - Math.PI / 2;
  return [radius * Math.cos(angle), radius * Math.sin(angle)];
}

function arcPath(start, end, inner, outer) {
  const [x0, y0] = polar(start, outer), [x1, y1] = polar(end, outer);
  const [x2, y2] = polar(end, inner), [x3, y3] = polar(start, inner);
  const large = end - start > 0.5 ? 1 : 0;
  return `M${x0},${y0} A${outer},${outer} 0 ${large} 1 ${x1},${y1} L${x2},${y2} A${inner},${inner} 0 ${large} 0 ${x3},${y3} Z`;
}

// Errors and warnings sit in a fixed bar at the bottom: showing one moves nothing.
function showError(error) {
  $('error').textContent = String(error);
}

// The URL replays the run (`s`) and restores the key field (`k`).
function saveUrl() {
  if (!vis) return;
  const params = new URLSearchParams({ s: vis.scenario(), k: $('key').value });
  history.replaceState(null, '', '#' + params.toString());
}

// ----- actions -----

function act(action) {
  try {
    const index = vis.apply(JSON.stringify(action));
    $('error').textContent = '';
    recordHead(); // acting on an earlier moment branches from it
    render();
    saveUrl();
    return index;
  } catch (error) {
    showError(error);
    return null;
  }
}

// A comma-separated field: one entry per node, or none when blank.
function perNode(id) {
  const text = $(id).value.trim();
  return text ? text.split(',').map((entry) => entry.trim()) : [];
}

function setupFromForm() {
  const number = (id) => Number($(id).value);
  const weights = perNode('node-weights').map((text) => {
    // Only the parse is here: the limits are Rust's (Setup::validate).
    if (!/^\d+$/.test(text)) throw new Error(`weights: "${text}" is not a whole number`);
    return Number(text);
  });
  return {
    seed: number('seed'), nodes: number('nodes'), partitions: number('partitions'),
    replication_factor: number('n'), read_quorum: number('r'), write_quorum: number('w'),
    weights, zones: perNode('zones').map((zone) => zone || null),
  };
}

function start(visualiser) {
  vis = visualiser;
  traced = null;
  recordHead();
  window.dynamoVis = vis; // for the browser test and for curious readers
  contexts.clear();
  render();
  const setup = view.setup;
  $('seed').value = setup.seed; $('nodes').value = setup.nodes; $('partitions').value = setup.partitions;
  $('n').value = setup.replication_factor; $('r').value = setup.read_quorum; $('w').value = setup.write_quorum;
  $('node-weights').value = setup.weights.join(',');
  $('zones').value = setup.zones.map((zone) => zone ?? '').join(',');
}

function reset(event) {
  event?.preventDefault();
  try {
    start(new Visualiser(JSON.stringify(setupFromForm())));
    saveUrl();
    $('error').textContent = '';
  } catch (error) {
    showError(error);
  }
}

const selected = (id) => Number($(id).value);

function put(via, value, context) {
  return act({ op: 'put', via, key: $('key').value, value, context });
}

function wireControls() {
  $('setup').addEventListener('submit', reset);
  $('share').onclick = share;
  $('get').onclick = () => act({ op: 'get', via: selected('via'), key: $('key').value });
  $('put').onclick = () => put(selected('via'), $('value').value, null);
  const lastContext = () => contexts.get($('key').value)?.context ?? null;
  $('put-context').onclick = () => put(selected('via'), $('value').value, lastContext());
  $('delete').onclick = () => put(selected('via'), null, lastContext());
  $('concurrent').onclick = () => {
    const context = lastContext();
    put(selected('via'), $('value').value + '-a', context);
    put(selected('via2'), $('value').value + '-b', context);
  };
  $('key').oninput = () => { render(); saveUrl(); };
  $('crash').onclick = () => act({ op: 'crash', node: selected('target') });
  $('restart').onclick = () => act({ op: 'restart', node: selected('target') });
  $('isolate').onclick = () => act({ op: 'isolate', node: selected('target') });
  $('cut').onclick = () => act({ op: 'partition', a: selected('target'), b: selected('peer') });
  $('heal').onclick = () => act({ op: 'heal' });
  $('add-node').onclick = () => {
    act({ op: 'add_node', weight: Number($('add-weight').value), zone: $('add-zone').value.trim() || null });
    $('target').value = String(view.nodes[view.nodes.length - 1].id);
  };
  $('join-node').onclick = () => act({ op: 'join', via: firstUp(), node: selected('target') });
  $('leave-node').onclick = () => act({ op: 'leave', via: firstUp(selected('target')), node: selected('target') });
  $('step').onclick = () => act({ op: 'step', events: 1 });
  $('advance').onclick = () => act({ op: 'advance', ms: 100 });
  $('advance-long').onclick = () => act({ op: 'advance', ms: 1000 });
  $('play').onclick = togglePlay;
  $('compare').onclick = drawBalance;
  $('background').onchange = () => render();
  $('scrub').oninput = () => scrubTo(Number($('scrub').value));
}

// Copy the replay link; where the clipboard is refused or absent (an insecure
// origin, a browser without focus), show the link selected, to copy by hand.
async function share() {
  saveUrl();
  const url = location.href, link = $('share-link'), status = $('share-status');
  const timeout = new Promise((_, fail) => setTimeout(() => fail(new Error('the clipboard did not answer')), 1000));
  try {
    if (!navigator.clipboard) throw new Error('no clipboard on this page (not a secure context)');
    await Promise.race([navigator.clipboard.writeText(url), timeout]);
    link.hidden = true;
    status.textContent = 'link copied: it replays this run';
  } catch (error) {
    link.hidden = false;
    link.value = url;
    link.select();
    status.textContent = `copy this link by hand (${error.message ?? error})`;
  }
}

function firstUp(except) {
  const node = view.nodes.find((n) => n.up && n.in_ring && n.id !== except);
  return node ? node.id : 1;
}

function togglePlay() {
  if (playing) {
    clearInterval(playing);
    playing = null;
    $('play').textContent = 'play';
    return;
  }
  $('play').textContent = 'pause';
  playing = setInterval(() => {
    const speed = $('speed').value;
    act(speed === 'step' ? { op: 'step', events: 1 } : { op: 'advance', ms: Number(speed) });
  }, TICK_MS);
}

// ----- drawing -----

function render() {
  view = JSON.parse(vis.view($('key').value));
  window.dynamoView = view; // for the browser test and for curious readers
  for (const record of view.history) {
    if (record.context && record.key) contexts.set(record.key, record);
  }
  const latest = contexts.get($('key').value);
  $('context').textContent = latest ? latest.context_clock : 'none (a put now is blind)';
  $('context').title = latest ? `as sent to the node (opaque to clients): ${latest.context}` : '';
  $('warning').textContent = view.warnings.join(' ');
  drawRing();
  drawZones();
  fillSelects();
  drawNodes();
  drawKey();
  drawMoves();
  drawHistory();
  drawTrace();
  drawLog();
  const ring = view.ring;
  $('clock').textContent = `t = ${view.now_ms} ms · ${view.events} events · ring epoch ${ring ? ring.epoch : '-'}` +
    ` as seen by n${view.viewer ?? '-'} · N=${view.setup.replication_factor} R=${view.setup.read_quorum} W=${view.setup.write_quorum}`;
  const last = view.last_event;
  $('last-event').textContent = last
    ? `last event: ${last.message ? messageLabel(last.message) : last.kind.replace('_', ' ')}` +
      `${last.from != null && last.to != null ? ` n${last.from}→n${last.to}` : ` at n${last.node}`}${last.detail ? ' · ' + last.detail : ''}` +
      ` · ${view.in_flight.length} message(s) in flight`
    : `${view.in_flight.length} message(s) in flight`;
}

// Where each node sits, in turns: the nodes of the setup evenly spaced, and each node
// added later in the middle of the widest gap, so no badge ever moves.
function nodeTurns(nodes, initial) {
  const turns = [];
  nodes.forEach((_, index) => {
    if (index < initial) { turns.push((index + 0.5) / initial); return; }
    const sorted = [...turns].sort((a, b) => a - b);
    let widest = -1, middle = 0;
    sorted.forEach((at, i) => {
      const next = i + 1 < sorted.length ? sorted[i + 1] : sorted[0] + 1;
      if (next - at > widest + 1e-9) { widest = next - at; middle = ((at + next) / 2) % 1; }
    });
    turns.push(middle);
  });
  return turns;
}

function nodePositions() {
  const positions = new Map();
  const turns = nodeTurns(view.nodes, Math.min(view.setup.nodes, view.nodes.length));
  view.nodes.forEach((node, index) => positions.set(node.id, polar(turns[index], R_NODES)));
  positions.set('client', [-290, -290]);
  return positions;
}

function drawRing() {
  const segments = $('segments');
  segments.replaceChildren();
  const keyPartition = view.key ? view.key.partition : -1;
  for (const segment of view.ring ? view.ring.segments : []) {
    const classes = ['segment'];
    if (segment.moving) classes.push('moving');
    if (segment.partition === keyPartition) classes.push('key-partition');
    const path = svg('path', {
      d: arcPath(segment.start_turns, segment.end_turns, R_IN, R_OUT),
      fill: segment.colour, class: classes.join(' '),
      'data-partition': segment.partition, 'data-owner': segment.owner,
    }, segments);
    svg('title', {}, path).textContent =
      `p${segment.partition} · owner n${segment.owner}${segment.zone ? ' (zone ' + segment.zone + ')' : ''} · homes ${segment.homes.map((h) => 'n' + h).join(', ')}`;
    // An inner band in the owner's zone colour: which failure domain owns each arc.
    if (segment.zone_colour) {
      const [x0, y0] = polar(segment.start_turns, R_IN - 7), [x1, y1] = polar(segment.end_turns, R_IN - 7);
      const large = segment.end_turns - segment.start_turns > 0.5 ? 1 : 0;
      svg('path', {
        d: `M${x0},${y0} A${R_IN - 7},${R_IN - 7} 0 ${large} 1 ${x1},${y1}`, stroke: segment.zone_colour,
        'stroke-dasharray': zoneDash(segment.zone), class: 'zone-band', 'data-zone': segment.zone,
      }, segments);
    }
  }
  const positions = nodePositions();
  drawKeyMarker();
  drawLinks(positions);
  drawBadges(positions);
  drawArrows(positions);
}

function drawKeyMarker() {
  const group = $('key-marker');
  group.replaceChildren();
  if (!view.key) return;
  const [x0, y0] = polar(view.key.position_turns, R_IN - 8);
  const [x1, y1] = polar(view.key.position_turns, R_OUT + 14);
  svg('line', { x1: x0, y1: y0, x2: x1, y2: y1, class: 'key-line' }, group);
  const [lx, ly] = polar(view.key.position_turns, R_OUT + 24);
  const key = view.key.key;
  const label = svg('text', { x: lx, y: ly + 4, class: 'key-label', 'text-anchor': 'middle' }, group);
  label.textContent = key.length > KEY_LABEL_MAX ? key.slice(0, KEY_LABEL_MAX - 1) + '…' : key;
  svg('title', {}, label).textContent = key;
  keepInside(label);
}

// Shift an SVG text into the ring's view box (a long label near its edge would be cut).
function keepInside(text) {
  const box = text.getBBox(), view = $('ring').viewBox.baseVal, margin = 2;
  const dx = Math.max(0, view.x + margin - box.x) - Math.max(0, box.x + box.width - (view.x + view.width - margin));
  const dy = Math.max(0, view.y + margin - box.y) - Math.max(0, box.y + box.height - (view.y + view.height - margin));
  text.setAttribute('x', Number(text.getAttribute('x')) + dx);
  text.setAttribute('y', Number(text.getAttribute('y')) + dy);
}

function drawLinks(positions) {
  const group = $('links');
  group.replaceChildren();
  for (const [a, b] of view.cut) {
    const [x1, y1] = positions.get(a), [x2, y2] = positions.get(b);
    svg('line', { x1, y1, x2, y2, class: 'link-cut', 'data-cut': `${a}-${b}` }, group);
  }
}

function drawBadges(positions) {
  const group = $('node-badges');
  group.replaceChildren();
  const rank = new Map((view.key ? view.key.preference : []).map((p, i) => [p.node, [i + 1, p.role]]));
  for (const node of view.nodes) {
    const [x, y] = positions.get(node.id);
    const classes = ['badge', node.up ? 'up' : 'down'];
    if (String(node.id) === $('target').value) classes.push('selected');
    const badge = svg('g', {
      class: classes.join(' '), transform: `translate(${x},${y})`, 'data-node': node.id,
      'data-weight': node.weight, 'data-zone': node.zone ?? '',
    }, group);
    const r = badgeRadius(node.weight);
    if (!node.in_ring) svg('circle', { r: r + 8, class: 'ring-out' }, badge);
    if (node.zone_colour) svg('circle', { r: r + 4, class: 'zone-ring', stroke: node.zone_colour, 'stroke-dasharray': zoneDash(node.zone) }, badge);
    svg('circle', { r, fill: node.colour, class: 'body' }, badge);
    svg('text', { y: 5 }, badge).textContent = node.up ? node.name : '✕';
    const meta = [node.weight !== 1 || view.nodes.some((n) => n.weight !== 1) ? `w${node.weight}` : null, node.zone].filter((x) => x);
    if (meta.length) svg('text', { y: -r - 9, class: 'badge-meta' }, badge).textContent = meta.join(' · ');
    svg('title', {}, badge).textContent =
      `${node.name} · ${node.up ? 'up' : 'down'} · ${node.status} · weight ${node.weight}${node.zone ? ' · zone ' + node.zone : ''}`;
    if (node.hint_count > 0) {
      const hints = svg('g', { class: 'hints', transform: `translate(${r - 2},${-r + 2})` }, badge);
      svg('circle', { r: 9 }, hints);
      svg('text', { y: 4 }, hints).textContent = node.hint_count;
    }
    if (rank.has(node.id)) {
      const [position, role] = rank.get(node.id);
      // Past 10 nodes a fallback's label is its rank alone: "12 fallback" would reach
      // the next badge's (its tooltip says the rest).
      const crowded = view.nodes.length > 10 && role === 'fallback';
      svg('text', { y: r + 14, class: `rank ${role}` }, badge).textContent = crowded ? `${position}` : `${position} ${role}`;
    }
    badge.addEventListener('click', () => { $('target').value = String(node.id); render(); });
  }
}

const zoneDash = (name) => view.zones.find((zone) => zone.name === name)?.dash ?? '';

// A heavier node is a bigger badge (area grows with weight, up to a cap).
function badgeRadius(weight) {
  return R_BADGE * Math.min(1.5, Math.sqrt(weight));
}

// The zones legend: each zone's outline colour, its nodes and the partitions they own.
function drawZones() {
  const legend = $('zones-legend');
  legend.replaceChildren();
  legend.hidden = view.zones.length === 0;
  for (const zone of view.zones) {
    const item = html('li', { 'data-zone': zone.name, 'data-owned': zone.owned, style: `--c:${zone.colour}` }, undefined, legend);
    html('span', { class: 'swatch', style: zone.dash ? `border-style:${zone.dash.startsWith('2 ') ? 'dotted' : 'dashed'}` : '' }, undefined, item);
    item.append(`zone ${zone.name}: ${zone.nodes.map((n) => 'n' + n).join(' ')} · owns ${zone.owned}`);
  }
}

// Message groups drawn thinner, and hidden when "background traffic" is unticked.
const BACKGROUND = new Set(['gossip', 'probe']);
const LABELLED = new Set(['request', 'hinted']);

const showBackground = () => $('background').checked;

// A gentle curve from badge edge to badge edge, so that an answer does not hide its
// request; returns the path and its midpoint (for a label).
function curve(positions, from, to) {
  const [x1, y1] = positions.get(from), [x2, y2] = positions.get(to);
  const [dx, dy] = [x2 - x1, y2 - y1], length = Math.hypot(dx, dy) || 1;
  const [ux, uy] = [dx / length, dy / length];
  const [sx, sy, ex, ey] = [x1 + ux * R_BADGE, y1 + uy * R_BADGE, x2 - ux * R_BADGE, y2 - uy * R_BADGE];
  const [cx, cy] = [(sx + ex) / 2 - uy * 24, (sy + ey) / 2 + ux * 24];
  const mid = [0.25 * sx + 0.5 * cx + 0.25 * ex, 0.25 * sy + 0.5 * cy + 0.25 * ey];
  return { d: `M${sx},${sy} Q${cx},${cy} ${ex},${ey}`, mid };
}

function messageLabel(message) {
  return [message.kind.replace('_', ' '), message.key].filter((x) => x != null).join(' ');
}

// The colour class of an activity: its message's group, else its own kind.
function tone(item) {
  if (item.kind === 'lost') return 'lost';
  return item.message ? item.message.group : item.kind;
}

function drawArrows(positions) {
  const group = $('arrows');
  group.replaceChildren();
  placed = [];
  drawFresh(group, positions);
  drawInFlight(group, positions);
}

// Labels already drawn this render, as boxes: a new label never overlaps one. It is
// nudged along its arrow's side, and left off when no place is free (its arrow's
// tooltip still says what it is).
let placed = [];
const LABEL_NUDGES = [0, 13, -13, 26, -26];

// Boxes are estimated from the text's length, generously (measuring each would
// force a layout per label: 300 puts took a minute to draw).
const LABEL_CHAR_PX = 6.8, LABEL_HEIGHT_PX = 13;

function placeLabel(group, attrs, text) {
  const width = text.length * LABEL_CHAR_PX + 6;
  const x = Number(attrs.x) - width / 2, y = Number(attrs.y);
  for (const nudge of LABEL_NUDGES) {
    const box = { x, y: y + nudge - LABEL_HEIGHT_PX + 3, width, height: LABEL_HEIGHT_PX };
    const clash = placed.some((b) => box.x < b.x + b.width && b.x < box.x + box.width && box.y < b.y + b.height && b.y < box.y + box.height);
    if (clash) continue;
    placed.push(box);
    const label = svg('text', { ...attrs, y: y + nudge }, group);
    label.textContent = text;
    return label;
  }
  return null;
}

// What the last action delivered: arrows whose dot travels once, then fade.
function drawFresh(group, positions) {
  const visible = view.fresh.filter((item) => !item.message || showBackground() || !BACKGROUND.has(item.message.group));
  // Requests, hints, transfers and repairs first: gossip must not crowd them out.
  const ranked = visible.filter((i) => !i.message || !BACKGROUND.has(i.message.group))
    .concat(visible.filter((i) => i.message && BACKGROUND.has(i.message.group)));
  const shown = new Set(ranked.slice(0, ARROWS_MAX));
  const fresh = visible.filter((item) => shown.has(item));
  fresh.forEach((item, order) => {
    const seconds = (order * 0.6) / Math.max(1, fresh.length / 4);
    const delay = `${seconds}s`;
    const from = item.kind === 'client' ? 'client' : item.from;
    const to = item.kind === 'reply' ? 'client' : item.to;
    if (from == null || to == null || !positions.has(from) || !positions.has(to)) {
      pulse(group, positions.get(item.node), item.kind, delay);
      return;
    }
    const { d, mid } = curve(positions, from, to);
    const kind = item.message ? item.message.kind : item.kind;
    const classes = `arrow t-${tone(item)}${item.message && BACKGROUND.has(item.message.group) ? ' background' : ''}`;
    const path = svg('path', { d, class: classes, 'data-kind': kind, 'data-tone': tone(item), style: `animation-delay:${delay}` }, group);
    svg('title', {}, path).textContent = `${kind}: ${item.detail}`;
    travel(group, `arrow-dot t-${tone(item)}`, d, seconds, { dur: '0.8s' });
    if (item.message && LABELLED.has(item.message.group) && fresh.length <= 16) {
      placeLabel(group, { x: mid[0], y: mid[1], class: `arrow-label t-${tone(item)}`, style: `animation-delay:${delay}` },
        messageLabel(item.message));
    }
  });
}

// Messages on the wire: a dashed arrow, its dot at how far the message has got. While
// playing, the dot moves to where the next tick will find it.
function drawInFlight(group, positions) {
  const tickMs = playing && $('speed').value !== 'step' ? Number($('speed').value) : 0;
  for (const flight of view.in_flight) {
    const { message } = flight;
    if (BACKGROUND.has(message.group) && !showBackground()) continue;
    if (!positions.has(flight.from) || !positions.has(flight.to)) continue;
    const { d, mid } = curve(positions, flight.from, flight.to);
    const span = Math.max(1, flight.deliver_ms - flight.sent_ms);
    const at = Math.min(1, Math.max(0, (view.now_ms - flight.sent_ms) / span));
    const next = Math.min(1, at + tickMs / span);
    const path = svg('path', {
      d, class: `flight t-${message.group}`, 'data-kind': message.kind, 'data-group': message.group,
    }, group);
    svg('title', {}, path).textContent =
      `${messageLabel(message)} n${flight.from}→n${flight.to} · sent ${flight.sent_ms} ms, due ${flight.deliver_ms} ms${message.detail ? ' · ' + message.detail : ''}`;
    travel(group, `flight-dot t-${message.group}`, d, 0, {
      dur: `${TICK_MS / 1000}s`, calcMode: 'linear', keyPoints: `${at};${next}`, keyTimes: '0;1',
    });
    if (LABELLED.has(message.group)) {
      placeLabel(group, { x: mid[0], y: mid[1], class: `flight-label t-${message.group}` }, messageLabel(message));
    }
  }
}

// A dot moving along `d`, shown from `seconds` from now. Animations added to a running
// SVG start on its own clock, long begun, so each is started explicitly.
function travel(group, classes, d, seconds, timing) {
  const dot = svg('circle', { class: classes, opacity: 0 }, group);
  const show = svg('set', { attributeName: 'opacity', to: 1, begin: 'indefinite', fill: 'freeze' }, dot);
  const motion = svg('animateMotion', { begin: 'indefinite', fill: 'freeze', path: d, ...timing }, dot);
  show.beginElementAt(seconds);
  motion.beginElementAt(seconds);
}

function pulse(group, position, kind, delay) {
  if (!position) return;
  const [x, y] = position;
  svg('circle', { cx: x, cy: y, r: R_BADGE, class: `pulse t-${kind}`, style: `animation-delay:${delay}`, 'data-kind': kind }, group);
}

function fillSelects() {
  for (const id of ['via', 'via2', 'target', 'peer']) {
    const select = $(id);
    const chosen = select.value;
    select.replaceChildren();
    for (const node of view.nodes) html('option', { value: node.id }, node.name + (node.up ? '' : ' (down)'), select);
    const fallback = id === 'via2' && view.nodes.length > 1 ? view.nodes[1].id : view.nodes[0].id;
    select.value = view.nodes.some((n) => String(n.id) === chosen) ? chosen : String(fallback);
  }
}

function drawNodes() {
  const table = $('nodes-table');
  table.replaceChildren();
  const head = html('tr', {}, undefined, table);
  for (const title of ['node', 'state', 'epoch', 'owns (weight zone)', 'keys', 'hints', 'suspects', 'gets/puts', 'repairs']) html('th', {}, title, head);
  const members = new Map((view.ring ? view.ring.members : []).map((m) => [m.node, m]));
  for (const node of view.nodes) {
    const row = html('tr', { 'data-node': node.id, 'data-hints': node.hint_count, 'data-up': node.up }, undefined, table);
    const name = html('td', {}, undefined, row);
    html('span', { class: 'dot', style: `background:${node.colour}` }, undefined, name);
    name.append(node.name);
    const member = members.get(node.id);
    html('td', { class: node.up ? 'ok' : 'failed' }, `${node.up ? 'up' : 'down'} · ${node.status}`, row);
    html('td', {}, node.epoch, row);
    html('td', { 'data-owned': member ? member.owned : 0 }, `${member ? member.owned : '-'} (w${node.weight}${node.zone ? ' ' + node.zone : ''})`, row);
    html('td', {}, node.keys, row);
    html('td', {}, node.hint_count ? `${node.hint_count}: ${node.hints.map((h) => `${h.key}→n${h.target}`).join(' ')}` : '0', row);
    html('td', {}, node.suspected.map((s) => 'n' + s).join(' ') || '-', row);
    const stats = node.stats;
    html('td', {}, stats ? `${stats.gets}/${stats.puts}` : '-', row);
    html('td', {}, stats ? `rr ${stats.read_repairs} · ae ${stats.anti_entropy_keys_repaired} · ho ${stats.hints_delivered}` : '-', row);
  }
}

function drawKey() {
  const box = $('key-info');
  box.replaceChildren();
  const key = view.key;
  if (!key) { html('p', { class: 'hint' }, 'type a key', box); return; }
  html('p', {}, `md5 ${key.position_hex} → ${(key.position_turns * 360).toFixed(1)}° → partition p${key.partition}`, box);
  const list = html('p', { id: 'preference' }, 'preference list: ', box);
  for (const entry of key.preference) {
    const classes = `chip ${entry.role}${entry.up ? '' : ' down'}${entry.zone_repeat ? ' zone-repeat' : ''}`;
    const chip = html('span', { class: classes, 'data-role': entry.role, 'data-zone': entry.zone ?? '' },
      `n${entry.node}${entry.zone ? ' · ' + entry.zone : ''}`, list);
    if (entry.zone_colour) chip.style.borderBottom = `3px solid ${entry.zone_colour}`;
    if (entry.zone_repeat) chip.title = `zone ${entry.zone} again: after one node of every zone (Dynamo §4.3)`;
  }
  const table = html('table', { id: 'replicas' }, undefined, box);
  const head = html('tr', {}, undefined, table);
  for (const title of ['node', 'holds', 'siblings (dot: value)', 'context', 'merkle root']) html('th', {}, title, head);
  for (const replica of key.replicas) {
    const row = html('tr', { 'data-how': replica.how }, undefined, table);
    html('td', {}, `n${replica.node}`, row);
    html('td', {}, replica.how === 'hint' ? `hint for n${replica.hint_for}` : 'replica', row);
    html('td', {}, replica.siblings.map((s) => `${s.dot}: ${s.value ?? '(deleted)'}`).join(' | '), row);
    html('td', {}, replica.clock, row);
    html('td', {}, replica.merkle_root ?? '-', row);
  }
  if (key.replicas.length === 0) html('p', { class: 'hint' }, 'no node holds this key yet', box);
}

function drawMoves() {
  const box = $('moves');
  box.replaceChildren();
  if (view.moves.length === 0) { html('p', { class: 'hint' }, 'no ring change yet: add a node and join it', box); return; }
  const total = view.moves.reduce((sum, m) => sum + m.added.length, 0);
  const done = view.moves.reduce((sum, m) => sum + m.done.length, 0);
  html('p', { id: 'moves-summary' }, `epoch ${view.ring.epoch}: ${view.moves.length} partitions change home replicas; ${done} of ${total} transfers done`, box);
  const table = html('table', {}, undefined, box);
  for (const move of view.moves) {
    const row = html('tr', { 'data-partition': move.partition }, undefined, table);
    html('td', {}, `p${move.partition}`, row);
    html('td', {}, `${move.removed.map((n) => '−n' + n).join(' ')} ${move.added.map((n) => '+n' + n).join(' ')}`, row);
    const bar = html('span', { class: 'move-bar' }, undefined, html('td', {}, undefined, row));
    html('span', { style: `width:${(100 * move.done.length) / Math.max(1, move.added.length)}%` }, undefined, bar);
  }
}

// ----- the timeline: any earlier moment, replayed from the run's actions -----

// The run as far as it went: its setup, actions and moments (one per simulator
// event, one per other action). Scrubbing replays a prefix; it leaves this alone.
let head = null;

function recordHead() {
  const scenario = JSON.parse(vis.scenario());
  const moments = scenario.actions.reduce((sum, a) => sum + (a.op === 'step' ? a.events : 1), 0);
  head = { ...scenario, moments };
  $('scrub').max = moments;
  $('scrub').value = moments;
  $('scrub-at').textContent = '';
}

function scrubTo(moment) {
  const replayed = new Visualiser(JSON.stringify(head.setup));
  let left = moment;
  for (const action of head.actions) {
    if (left <= 0) break;
    const events = action.op === 'step' ? Math.min(left, action.events) : 1;
    replayed.apply(JSON.stringify(action.op === 'step' ? { op: 'step', events } : action));
    left -= events;
  }
  vis = replayed;
  window.dynamoVis = vis;
  contexts.clear();
  render();
  $('scrub-at').textContent = moment === head.moments ? '' : `moment ${moment} of ${head.moments} (t = ${view.now_ms} ms): acting here branches the run`;
}

// ----- request tracing: one request's messages as a sequence diagram -----

let traced = null; // history index
const TRACE_COLUMN = 90, TRACE_TOP = 34, TRACE_ROW = 22;

function drawTrace() {
  const picture = $('trace');
  picture.replaceChildren();
  picture.hidden = traced == null;
  if (traced == null) return;
  let trace;
  try {
    trace = JSON.parse(vis.trace(traced));
  } catch (error) {
    $('trace-hint').textContent = String(error);
    picture.hidden = true;
    return;
  }
  const { record, activities, in_flight } = trace;
  $('trace-hint').textContent = `#${record.index} ${record.op} ${record.key ?? ''} via n${record.via}: ${record.outcome}` +
    `${record.quorum ? ' · ' + record.quorum : ''}. Arrows leave when their sender acted and arrive when delivered.`;
  const nodes = new Set([record.via]);
  for (const a of activities) for (const id of [a.node, a.from, a.to]) if (id != null) nodes.add(id);
  for (const f of in_flight) { nodes.add(f.from); nodes.add(f.to); }
  const columns = ['client', ...[...nodes].sort((a, b) => (a === record.via ? -1 : b === record.via ? 1 : a - b))];
  const x = (who) => 50 + columns.indexOf(who) * TRACE_COLUMN;
  // One row per distinct instant, so simultaneous events share a row.
  const times = [...new Set([record.invoked_ms, ...activities.map((a) => a.at_ms), ...in_flight.flatMap((f) => [f.sent_ms, f.deliver_ms]),
    ...activities.filter((a) => a.sent_ms != null).map((a) => a.sent_ms), ...(record.replied_ms != null ? [record.replied_ms] : [])])].sort((a, b) => a - b);
  const y = (t) => TRACE_TOP + times.indexOf(t) * TRACE_ROW;
  const height = TRACE_TOP + times.length * TRACE_ROW + 10;
  picture.setAttribute('viewBox', `0 0 ${Math.max(300, 50 + columns.length * TRACE_COLUMN)} ${height}`);
  for (const who of columns) {
    svg('line', { x1: x(who), y1: 22, x2: x(who), y2: height - 6, class: 'lifeline', 'data-who': who }, picture);
    svg('text', { x: x(who), y: 14, class: 'lifeline-name' }, picture).textContent = who === 'client' ? 'client' : `n${who}`;
  }
  for (const t of times) svg('text', { x: 4, y: y(t) + 4, class: 'trace-time' }, picture).textContent = `${t} ms`;
  // A message's send time is the mirror's; failing that, when its sender last acted
  // in this request at or before its delivery (an estimate).
  const actedAt = (node, t) => Math.max(record.invoked_ms, ...activities.filter((a) => a.at_ms <= t &&
    (a.to === node || (a.kind === 'client' && a.node === node))).map((a) => a.at_ms));
  for (const a of activities) {
    const from = a.kind === 'client' ? 'client' : a.from, to = a.kind === 'reply' ? 'client' : a.to;
    if (from == null || to == null) {
      svg('circle', { cx: x(a.node), cy: y(a.at_ms), r: 4, class: `trace-event t-${tone(a)}` }, picture);
      continue;
    }
    const sent = a.kind === 'message' || a.kind === 'lost' ? a.sent_ms ?? actedAt(from, a.at_ms) : a.at_ms;
    traceArrow(picture, x(from), y(sent), x(to), y(a.at_ms), `t-${tone(a)}`, a.message ? messageLabel(a.message) : a.kind, a);
  }
  for (const f of in_flight) {
    traceArrow(picture, x(f.from), y(f.sent_ms), x(f.to), y(f.deliver_ms), `t-${f.message.group} on-wire`, messageLabel(f.message), null);
  }
  if (record.replied_ms != null) {
    const what = record.outcome === 'ok' ? `${record.quorum.split(' ')[0]} reached at ${record.replied_ms} ms (${record.acked}/${record.needed}): reply`
      : `${record.outcome} at ${record.replied_ms} ms`;
    const at = y(record.replied_ms);
    svg('line', { x1: 40, y1: at, x2: 50 + (columns.length - 1) * TRACE_COLUMN + 10, y2: at, class: 'quorum-mark' }, picture);
    svg('text', { x: 50 + (columns.length - 1) * TRACE_COLUMN + 8, y: at - 4, class: 'quorum-label', 'data-at': record.replied_ms }, picture).textContent = what;
  }
}

function traceArrow(picture, x1, y1, x2, y2, classes, label, activity) {
  const line = svg('line', { x1, y1, x2, y2, class: `trace-msg ${classes}`, 'data-request': traced, 'data-kind': activity?.message?.kind ?? activity?.kind ?? 'flight' }, picture);
  svg('title', {}, line).textContent = `${label}${activity?.detail ? ': ' + activity.detail : ''}`;
  svg('text', { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 3, class: `trace-label ${classes}` }, picture).textContent = label;
}

function drawHistory() {
  const table = $('history');
  table.replaceChildren();
  const head = html('tr', {}, undefined, table);
  for (const title of ['#', 'op', 'via', 'at', 'outcome']) html('th', {}, title, head);
  for (const record of view.history.slice().reverse()) {
    const row = html('tr', { 'data-index': record.index, 'data-outcome': record.outcome, class: record.index === traced ? 'traced' : '' }, undefined, table);
    row.onclick = () => { traced = record.index; render(); };
    html('td', {}, record.index, row);
    const how = record.over == null ? null : record.over === '[]' ? '(blind: no context)' : `over context ${record.over}`;
    const what = [record.op, record.key, record.value, how].filter((x) => x != null).join(' ');
    html('td', {}, what, row);
    html('td', {}, `n${record.via}`, row);
    html('td', {}, `${record.invoked_ms}${record.replied_ms != null ? '→' + record.replied_ms : ''} ms`, row);
    const values = record.siblings.map((s) => `${s.value ?? '(deleted)'} [${s.dot}]`).join(', ');
    const holders = record.holders.map((h) => `n${h.node}${h.how === 'hint' ? ' (hint)' : ''}`).join(' ');
    const answers = record.answers.map((a) =>
      `n${a.node}${a.how === 'local' ? ' (own)' : a.how === 'refused' ? ' refused' : ''}${a.in_time ? '' : ' late'}`).join(', ');
    // Until the reply, the coordinator's own read or write (no message) is not known.
    const tally = record.outcome === 'pending' ? `${record.acked} answer(s) so far` : `${record.acked}/${record.needed}`;
    const quorum = record.quorum ? ` · ${record.quorum}: ${tally}${answers ? ' (' + answers + ')' : ''}` : '';
    const held = holders ? ` · now on ${record.holders.length}: ${holders}` : '';
    html('td', { class: record.outcome, 'data-acked': record.acked }, `${record.outcome}${quorum}${record.detail ? ': ' + record.detail : ''}${values ? ' · ' + values : ''}${held}`, row);
  }
}

function drawLog() {
  const log = $('log');
  log.replaceChildren();
  for (const item of view.activity.slice().reverse()) {
    if (item.message && BACKGROUND.has(item.message.group) && !showBackground()) continue;
    const kind = item.message ? item.message.kind : item.kind;
    const line = html('li', { class: `t-${tone(item)}`, 'data-kind': kind }, undefined, log);
    html('span', { class: 't' }, `${item.at_ms} ms `, line);
    const ends = item.from != null && item.to != null ? ` n${item.from}→n${item.to}` : ` n${item.node}`;
    const what = item.message ? messageLabel(item.message) : kind.replace('_', ' ');
    // A client request's own line already starts with its number.
    const named = item.detail && item.detail.startsWith(`#${item.request} `);
    const request = item.request != null && !named ? ` #${item.request}` : '';
    line.append(`${what}${ends}${request}${item.detail ? ': ' + item.detail : ''}`);
  }
}

// ----- strategy 1 vs strategy 3 -----

function drawBalance() {
  const weights = $('weights').value.split(',').map((w) => Number(w.trim())).filter((w) => w > 0);
  const setup = { weights, tokens: Number($('tokens').value), partitions: Number($('balance-partitions').value), replication_factor: 3, seed: Number($('seed').value) };
  const box = $('strategies');
  box.replaceChildren();
  let result;
  try {
    result = JSON.parse(compare_strategies(JSON.stringify(setup)));
  } catch (error) {
    showError(error);
    return;
  }
  for (const strategy of [result.token_ring, result.partition_ring]) drawStrategy(box, strategy);
}

function drawStrategy(box, strategy) {
  const card = html('div', { class: 'strategy', 'data-efficiency': strategy.efficiency }, undefined, box);
  const picture = svg('svg', { viewBox: '-110 -110 220 220' }, card);
  const count = strategy.owners.length;
  strategy.owners.forEach((owner, i) => {
    svg('path', { d: arcPath(i / count, (i + 1) / count, 70, 105), fill: strategy.colours[owner], stroke: strategy.colours[owner] }, picture);
  });
  const info = html('div', {}, undefined, card);
  html('h3', {}, strategy.name, info);
  html('p', {}, '', info).innerHTML =
    `efficiency <span class="big">${strategy.efficiency.toFixed(3)}</span> (mean / max load)<br>` +
    `one more node moves ${(100 * strategy.moved_on_join).toFixed(1)}% of the ring`;
  const max = Math.max(...strategy.loads.map((l) => l.load));
  for (const load of strategy.loads) {
    const bar = html('div', { class: 'bar', title: `n${load.node} (w${load.weight}): ${(100 * load.load).toFixed(1)}%` }, undefined, info);
    html('span', { style: `width:${(100 * load.load) / max}%;background:${strategy.colours[load.node]}` }, undefined, bar);
  }
}

// ----- live mode: the running cluster, as the node serving the page reports it -----

const LIVE_POLL_MS = 1000;
const LIVE_BADGE = 34; // the live ring is drawn smaller: bigger badges and labels
// The simulator's palette (wasm/src/view.rs `colour`), so node n looks the same in both.
const PALETTE = ['#4caf50', '#ab47bc', '#fdd835', '#29b6f6', '#ec407a', '#ff7043', '#26a69a', '#7e57c2',
  '#c0ca33', '#8d6e63', '#5c6bc0', '#ffa726', '#66bb6a', '#d4e157', '#ef5350', '#78909c'];
const nodeColour = (id) => PALETTE[id - 1] ?? `hsl(${(id * 137.508) % 360}, 62%, 52%)`;

// Served by a node (`dynamo dev`, `--ui-dir`) the page's origin is that node's HTTP API.
function liveWanted() {
  return location.pathname.startsWith('/ui/') || new URLSearchParams(location.search).get('live') === '1';
}

function startLive() {
  $('live').hidden = false;
  $('live-origin').textContent = `· ${location.host}`;
  document.body.classList.add('with-live');
  addEventListener('message', relayed);
  $('live-lookup').addEventListener('submit', lookUpLive);
  pollLive();
  setInterval(pollLive, LIVE_POLL_MS);
}

let liveCluster = null;
// Per node: its last two /metrics samples ({ at, requests, events, buckets }) and
// the rates between them.
const samples = new Map();
const rates = new Map();
const relays = new Map(); // node -> its relay iframe (another node's origin)

async function pollLive() {
  try {
    const response = await fetch('/v1/cluster', { cache: 'no-store' });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    liveCluster = await response.json();
    drawLive(liveCluster);
  } catch (error) {
    $('live').dataset.state = 'unreachable';
    $('live-summary').textContent = `cannot read /v1/cluster: ${error}`;
    return;
  }
  for (const member of liveCluster.members) askMetrics(member);
}

// This node's /metrics directly; another node's through its relay page.
async function askMetrics(member) {
  if (member.id === liveCluster.node) {
    try {
      const response = await fetch('/metrics', { cache: 'no-store' });
      if (response.ok) sampled(member.id, await response.text());
    } catch { /* the next poll tries again */ }
    return;
  }
  if (!member.http) return;
  const origin = `${location.protocol}//${member.http}`;
  let frame = relays.get(member.id);
  if (!frame || frame.dataset.origin !== origin) {
    frame?.remove();
    frame = html('iframe', { src: `${origin}/ui/relay.html`, hidden: '', 'data-origin': origin, 'data-node': member.id, title: `n${member.id} metrics relay` }, undefined, document.body);
    relays.set(member.id, frame);
    return; // asked once it has loaded, at the next poll
  }
  frame.contentWindow?.postMessage({ type: 'dynamo-metrics?' }, origin);
}

function relayed(event) {
  if (event.data?.type !== 'dynamo-metrics' || !event.data.text) return;
  const frame = [...relays.values()].find((f) => f.dataset.origin === event.origin);
  if (frame) sampled(Number(frame.dataset.node), event.data.text);
}

// The sums this view needs from a Prometheus text page.
function parseMetrics(text) {
  const found = { requests: 0, failed: 0, events: 0, buckets: new Map() };
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^(\w+)(?:\{([^}]*)\})? ([0-9.eE+-]+|NaN|\+Inf)$/.exec(line.trim());
    if (!match) continue;
    const [, name, labels = '', value] = match;
    const number = Number(value);
    if (name === 'dynamo_requests_total') {
      found.requests += number;
      if (!/outcome="ok"/.test(labels)) found.failed += number;
    } else if (name === 'dynamo_driver_events_total') {
      found.events += number;
    } else if (name === 'dynamo_request_duration_seconds_bucket') {
      const le = /le="([^"]+)"/.exec(labels)?.[1];
      if (le) found.buckets.set(le, (found.buckets.get(le) ?? 0) + number);
    }
  }
  return found;
}

function sampled(node, text) {
  const now = { at: performance.now(), ...parseMetrics(text) };
  const before = samples.get(node);
  samples.set(node, now);
  if (!before) return;
  const seconds = Math.max(0.001, (now.at - before.at) / 1000);
  const per = (field) => Math.max(0, now[field] - before[field]) / seconds;
  rates.set(node, {
    requests: per('requests'), failed: per('failed'), events: per('events'),
    p99_ms: percentile(before.buckets, now.buckets, 0.99),
    histogram: histogram(before.buckets, now.buckets),
  });
  if (liveCluster) { drawLiveRing(liveCluster); drawLiveRates(liveCluster); }
}

// The q-th latency percentile of the requests between two samples, as the upper
// bound of its histogram bucket (ms); null without requests.
function percentile(before, now, q) {
  const bounds = [...now.keys()].filter((le) => le !== '+Inf').sort((a, b) => Number(a) - Number(b));
  const total = (now.get('+Inf') ?? 0) - (before.get('+Inf') ?? 0);
  if (total <= 0) return null;
  for (const le of bounds) {
    if ((now.get(le) ?? 0) - (before.get(le) ?? 0) >= q * total) return Number(le) * 1000;
  }
  return Infinity;
}

// A real key: its partition (the core's MD5 hash, from the WASM), its home replicas in
// the ring this node serves, and what a quorum read through this node returns (a GET
// of /v1/kv: a client request like any other).
let liveKey = null; // { key, partition }

async function lookUpLive(event) {
  event.preventDefault();
  const key = $('live-key').value, box = $('live-key-info');
  box.replaceChildren();
  if (!key || !liveCluster) return;
  const partition = liveTools ? liveTools.keyPartition(key, liveCluster.partitions.length) : null;
  const homes = partition == null ? [] : liveCluster.partitions[partition].homes;
  liveKey = { key, partition, homes };
  drawLiveRing(liveCluster);
  const where = partition == null ? 'partition unknown (the WASM is not built)'
    : `MD5 → partition p${partition} of ${liveCluster.partitions.length} · home replicas ${homes.map((h) => 'n' + h).join(', ')}`;
  html('p', { id: 'live-key-where' }, where, box);
  let response;
  try {
    response = await fetch(`/v1/kv/${encodeURIComponent(key)}`, { cache: 'no-store' });
  } catch (error) {
    html('p', { class: 'failed' }, `cannot read it: ${error}`, box);
    return;
  }
  const context = response.headers.get('x-dynamo-context');
  const clock = context && liveTools ? liveTools.contextClock(context) : null;
  let values = [];
  if (response.status === 200) values = [await response.text()];
  else if (response.status === 300) values = (await response.json()).siblings.map((s) => (s.deleted ? '(deleted)' : atob(s.value)));
  const found = response.status === 200 || response.status === 300;
  box.dataset.state = found ? 'found' : response.status === 404 ? 'missing' : 'failed';
  const what = found ? `${values.length} version(s): ${values.join(' | ')}` : response.status === 404 ? 'not found' : `HTTP ${response.status}`;
  html('p', { id: 'live-key-value' }, `read through n${liveCluster.node}: ${what}`, box);
  if (clock) html('p', { id: 'live-key-context', class: 'hint' }, `context ${clock} (node.incarnation:counter of each coordinator's newest write seen)`, box);
}

// Requests per latency bucket between two samples (the cumulative buckets differenced).
function histogram(before, now) {
  const bounds = [...now.keys()].sort((a, b) => (a === '+Inf' ? 1 : b === '+Inf' ? -1 : Number(a) - Number(b)));
  let below = 0;
  return bounds.map((le) => {
    const upTo = (now.get(le) ?? 0) - (before.get(le) ?? 0);
    const count = Math.max(0, upTo - below);
    below = Math.max(below, upTo);
    return { le, count };
  });
}

// A row of bars, one per latency bucket, for the last second's requests.
function drawHistogram(cell, buckets) {
  const max = Math.max(1, ...buckets.map((b) => b.count));
  const picture = svg('svg', { viewBox: `0 0 ${buckets.length * 6} 20`, class: 'latency', 'data-count': buckets.reduce((s, b) => s + b.count, 0) }, cell);
  buckets.forEach((bucket, i) => {
    const height = (18 * bucket.count) / max;
    const bar = svg('rect', { x: i * 6, y: 20 - height, width: 5, height, class: 'latency-bar' }, picture);
    svg('title', {}, bar).textContent = `≤ ${bucket.le === '+Inf' ? '∞' : Number(bucket.le) * 1000 + ' ms'}: ${bucket.count}`;
  });
}

function drawLiveRates(cluster) {
  const table = $('live-rates');
  table.replaceChildren();
  const head = html('tr', {}, undefined, table);
  for (const title of ['node', 'client requests/s', 'failed/s', 'p99 latency', 'latency (100 µs … 10 s)', 'protocol events/s']) html('th', {}, title, head);
  const max = Math.max(1, ...[...rates.values()].map((r) => r.requests));
  for (const member of cluster.members) {
    const rate = rates.get(member.id);
    const row = html('tr', { 'data-node': member.id, 'data-rate': rate ? rate.requests.toFixed(1) : '' }, undefined, table);
    const name = html('td', {}, undefined, row);
    html('span', { class: 'dot', style: `background:${nodeColour(member.id)}` }, undefined, name);
    name.append(`n${member.id}`);
    const cell = html('td', {}, undefined, row);
    if (!rate) { cell.textContent = 'measuring…'; continue; }
    const bar = html('span', { class: 'rate-bar' }, undefined, cell);
    html('span', { style: `width:${(100 * rate.requests) / max}%;background:${nodeColour(member.id)}` }, undefined, bar);
    cell.append(` ${rate.requests.toFixed(0)}`);
    html('td', { class: rate.failed > 0 ? 'failed' : '' }, rate.failed.toFixed(0), row);
    html('td', {}, rate.p99_ms == null ? '-' : rate.p99_ms === Infinity ? '> 10 s' : `≤ ${rate.p99_ms} ms`, row);
    drawHistogram(html('td', {}, undefined, row), rate.histogram);
    html('td', {}, rate.events.toFixed(0), row);
  }
}

function drawLive(cluster) {
  window.dynamoLive = cluster; // for the browser test and for curious readers
  const { transfers } = cluster;
  Object.assign($('live').dataset, { state: 'ok', epoch: cluster.epoch });
  $('live-summary').textContent = `as seen by n${cluster.node} · ring epoch ${cluster.epoch} · N=${cluster.replication_factor}` +
    ` · transfers ${transfers.done}/${transfers.total} done · hints held ${cluster.hints ?? '?'} · ${cluster.in_flight} request(s) in flight`;
  drawLiveRing(cluster);
  drawLiveMembers(cluster);
}

function drawLiveRing(cluster) {
  const ring = $('live-ring');
  ring.replaceChildren();
  const moving = new Set(cluster.transfers.pending.map((t) => t.partition));
  const count = cluster.partitions.length;
  for (const { partition, homes } of cluster.partitions) {
    const first = homes[0];
    const classes = ['segment', moving.has(partition) ? 'moving' : '', liveKey?.partition === partition ? 'key-partition' : ''];
    const path = svg('path', {
      d: arcPath(partition / count, (partition + 1) / count, R_IN, R_OUT),
      fill: first == null ? 'var(--line)' : nodeColour(first),
      class: classes.join(' ').trim(), 'data-partition': partition, 'data-owner': first ?? '',
    }, ring);
    svg('title', {}, path).textContent = `p${partition} · homes ${homes.map((h) => 'n' + h).join(', ')}${moving.has(partition) ? ' · moving' : ''}`;
  }
  cluster.members.forEach((member, index) => {
    const [x, y] = polar((index + 0.5) / cluster.members.length, R_NODES);
    const classes = `badge${member.suspected ? ' suspected' : ''}${member.status === 'left' ? ' down' : ''}`;
    const badge = svg('g', { class: classes, transform: `translate(${x},${y})`, 'data-node': member.id, 'data-status': member.status }, ring);
    svg('circle', { r: LIVE_BADGE, class: 'body', fill: nodeColour(member.id) }, badge);
    svg('text', { y: 5 }, badge).textContent = `n${member.id}`;
    const home = liveKey?.homes.includes(member.id) ? ` · home ${liveKey.homes.indexOf(member.id) + 1}` : '';
    svg('text', { y: LIVE_BADGE + 24, class: 'rank' }, badge).textContent = member.status + (member.suspected ? ' · suspected' : '') + home;
    const rate = rates.get(member.id);
    if (rate) svg('text', { y: LIVE_BADGE + 48, class: 'live-rate', 'data-node': member.id }, badge).textContent = `${rate.requests.toFixed(0)} req/s`;
  });
  svg('text', { y: 8, class: 'live-epoch' }, ring).textContent = `epoch ${cluster.epoch}`;
}

function drawLiveMembers(cluster) {
  const table = $('live-members');
  table.replaceChildren();
  const head = html('tr', {}, undefined, table);
  for (const title of ['node', 'status', 'first home of', 'weight', 'last heard', 'http']) html('th', {}, title, head);
  for (const member of cluster.members) {
    const row = html('tr', { 'data-node': member.id, 'data-suspected': member.suspected }, undefined, table);
    const name = html('td', {}, undefined, row);
    html('span', { class: 'dot', style: `background:${nodeColour(member.id)}` }, undefined, name);
    name.append(`n${member.id}${member.id === cluster.node ? ' (this node)' : ''}`);
    html('td', { class: member.suspected ? 'failed' : 'ok' }, member.status + (member.suspected ? ' · suspected' : ''), row);
    html('td', {}, `${cluster.partitions.filter((p) => p.homes[0] === member.id).length} partitions`, row);
    html('td', {}, `w${member.weight}${member.zone ? ' ' + member.zone : ''}`, row);
    html('td', {}, member.last_seen_ms_ago == null ? '-' : `${member.last_seen_ms_ago} ms ago`, row);
    html('td', {}, member.http ?? '-', row);
  }
}

// ----- guided scenarios (tours.js) -----

let tour = null; // { name, step }

const tourApi = {
  act: (action) => { const index = act(action); return index == null ? null : Number(index); }, // i64 arrives as a BigInt
  view: () => view,
  setKey: (key) => { $('key').value = key; render(); },
  balance: (weights, tokens) => {
    $('weights').value = weights; $('tokens').value = tokens; drawBalance();
    $('balance').scrollIntoView({ block: 'nearest' });
  },
  efficiencies: () => [...document.querySelectorAll('#strategies .strategy')].map((s) => Number(s.dataset.efficiency)),
};

// Replay `name`'s steps 0..=step on a fresh cluster, then narrate the last.
function runTour(name, step) {
  const steps = TOURS[name]?.steps;
  if (!steps) { showError(`no scenario named ${name}`); return; }
  step = Math.max(0, Math.min(step, steps.length - 1));
  start(new Visualiser(JSON.stringify(TOUR_SETUP)));
  const tools = tourTools(tourApi), context = {};
  try {
    for (let i = 0; i <= step; i++) steps[i].run(tourApi, tools, context);
  } catch (error) {
    showError(`scenario ${name}, step ${step + 1}: ${error}`);
    return;
  }
  render();
  tour = { name, step };
  $('tour-pick').value = name;
  $('tour-say').textContent = steps[step].say(tourApi, tools, context);
  $('tour-step').textContent = `${TOURS[name].title} · step ${step + 1} of ${steps.length}`;
  $('tour').dataset.step = step;
  $('tour').dataset.last = String(step === steps.length - 1);
  history.replaceState(null, '', '#' + new URLSearchParams({ tour: name, step }).toString());
}

function wireTours() {
  for (const [name, { title }] of Object.entries(TOURS)) html('option', { value: name }, title, $('tour-pick'));
  $('tour-restart').onclick = () => runTour($('tour-pick').value, 0);
  $('tour-next').onclick = () => runTour($('tour-pick').value, tour && tour.name === $('tour-pick').value ? tour.step + 1 : 0);
  $('tour-back').onclick = () => tour && runTour(tour.name, tour.step - 1);
}

// ----- start -----

async function main() {
  // Live mode first: it needs only this file, not the WASM package.
  if (liveWanted()) startLive();
  let wasm;
  try {
    wasm = await import('./pkg/dynamo_wasm.js');
  } catch (error) {
    throw new Error(`the simulator is not built (run scripts/build-wasm.sh): ${error}`);
  }
  await wasm.default();
  ({ Visualiser, compare_strategies } = wasm);
  liveTools = { keyPartition: wasm.key_partition, contextClock: wasm.context_clock };
  wireControls();
  wireTours();
  const params = new URLSearchParams(location.hash.slice(1));
  const shared = params.get('s');
  if (params.has('k')) $('key').value = params.get('k');
  try {
    start(shared ? Visualiser.replay(shared) : new Visualiser(JSON.stringify(setupFromForm())));
  } catch (error) {
    showError(`could not replay the shared scenario: ${error}`);
    start(new Visualiser(JSON.stringify(setupFromForm())));
  }
  drawBalance();
  if (params.has('tour')) runTour(params.get('tour'), Number(params.get('step') ?? 0));
  window.dynamoReady = true;
}

main().catch((error) => { showError(error); window.dynamoFailed = String(error); });
