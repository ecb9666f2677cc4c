// Guided scenarios: each step does something to the simulated cluster, then narrates
// what the protocol did, read from the view (never a canned answer). A step is
// reached by replaying the steps before it on a fresh cluster of the tour's setup (the
// simulator is seeded), so any step can be linked (#tour=name&step=k), gone back to
// and replayed.

const SETUP = { seed: 1, nodes: 5, partitions: 32, replication_factor: 3, read_quorum: 2, write_quorum: 2, weights: [], zones: [] };

const n = (id) => `n${id}`;
const list = (ids) => ids.map(n).join(', ');

// Helpers over the page's api: { act, view(), setKey(key) }.
function tools(api) {
  const record = (index) => api.view().history.find((r) => r.index === index);
  const until = (done, stepMs, max) => {
    for (let i = 0; i < max && !done(); i++) api.act({ op: 'advance', ms: stepMs });
  };
  const request = (action) => {
    const index = api.act(action);
    until(() => record(index)?.outcome !== 'pending', 10, 100);
    return index;
  };
  const homes = () => api.view().key.preference.filter((p) => p.role === 'home').map((p) => p.node);
  const fallbacks = () => api.view().key.preference.filter((p) => p.role === 'fallback').map((p) => p.node);
  const answers = (r) => r.answers.filter((a) => a.in_time).map((a) => n(a.node) + (a.how === 'local' ? ' (its own)' : '')).join(', ');
  const values = (r) => r.siblings.map((s) => `${s.value ?? '(deleted)'} [${s.dot}]`).join(' and ');
  const delivered = (kind, to) => api.view().fresh.some((a) => a.kind === 'message' && a.message.kind === kind && (to == null || a.to === to));
  return { record, until, request, homes, fallbacks, answers, values, delivered };
}

const quorum = {
  title: 'a put and a get with quorums',
  steps: [
    {
      run: (api, t, c) => { api.setKey('cart'); c.homes = t.homes(); c.outsider = t.fallbacks()[0]; },
      say: (api, t, c) => `Key "cart" hashes (MD5) to partition p${api.view().key.partition}. Its preference list starts with its N=3 home replicas ${list(c.homes)}; the nodes after them are fallbacks. Next: a put through ${n(c.homes[0])}.`,
    },
    {
      run: (api, t, c) => { c.put = api.act({ op: 'put', via: c.homes[0], key: 'cart', value: 'book', context: null }); },
      say: (api, t, c) => `${n(c.homes[0])} coordinates the put: it stores its own copy and sends the write to ${list(c.homes.slice(1))} (dashed arrows are on the wire). W=2: one answer more makes the quorum.`,
    },
    {
      run: (api, t, c) => t.until(() => t.record(c.put).outcome !== 'pending', 1, 200),
      say: (api, t, c) => { const r = t.record(c.put); return `W=2 reached at t=${r.replied_ms} ms with ${t.answers(r)}: the client has its ok (${r.detail}). The third write still lands; nobody waits for it.`; },
    },
    {
      run: (api, t, c) => { c.get = api.act({ op: 'get', via: c.outsider, key: 'cart' }); },
      say: (api, t, c) => `${n(c.outsider)} holds no replica of cart, yet any node may coordinate: it asks the three homes and waits for R=2 answers.`,
    },
    {
      run: (api, t, c) => t.until(() => t.record(c.get).outcome !== 'pending', 1, 200),
      say: (api, t, c) => { const r = t.record(c.get); return `R=2 reached at t=${r.replied_ms} ms with ${t.answers(r)}: the get returns ${t.values(r)}.`; },
    },
  ],
};

const siblings = {
  title: 'concurrent writes make siblings; a context resolves them',
  steps: [
    {
      run: (api, t, c) => { api.setKey('cart'); c.homes = t.homes(); c.first = t.request({ op: 'put', via: c.homes[0], key: 'cart', value: 'v1', context: null }); },
      say: (api, t, c) => `A first put of cart, through ${n(c.homes[0])}: ${t.record(c.first).detail}.`,
    },
    {
      run: (api, t, c) => { c.read = t.request({ op: 'get', via: c.homes[0], key: 'cart' }); },
      say: (api, t, c) => `A get returns v1 with its context ${t.record(c.read).context_clock}: the version vector a client sends back with its next put. (n1.1:1 reads: node n1, incarnation 1, its 1st write.)`,
    },
    {
      run: (api, t, c) => {
        const context = t.record(c.read).context;
        c.left = api.act({ op: 'put', via: c.homes[0], key: 'cart', value: 'left', context });
        c.right = api.act({ op: 'put', via: c.homes[1], key: 'cart', value: 'right', context });
        t.until(() => t.record(c.left).outcome !== 'pending' && t.record(c.right).outcome !== 'pending', 10, 100);
      },
      say: (api, t, c) => `Two clients write at once over that same context, through ${n(c.homes[0])} and ${n(c.homes[1])}. Each coordinator adds its own dot: left ${t.record(c.left).detail}; right ${t.record(c.right).detail}. Neither version covers the other.`,
    },
    {
      run: (api, t, c) => { c.both = t.request({ op: 'get', via: c.homes[0], key: 'cart' }); },
      say: (api, t, c) => { const r = t.record(c.both); return `A get now returns ${r.siblings.length} siblings: ${t.values(r)}. Dynamo keeps both and leaves the merge to the client (§4.4); its context ${r.context_clock} covers both.`; },
    },
    {
      run: (api, t, c) => {
        t.request({ op: 'put', via: c.homes[0], key: 'cart', value: 'merged', context: t.record(c.both).context });
        c.after = t.request({ op: 'get', via: c.homes[0], key: 'cart' });
      },
      say: (api, t, c) => { const r = t.record(c.after); return `The client writes "merged" over that context: it supersedes both dots, and a get returns ${r.siblings.length} version: ${t.values(r)}.`; },
    },
  ],
};

const handoff = {
  title: 'sloppy quorum and hinted handoff',
  steps: [
    {
      run: (api, t, c) => { api.setKey('cart'); c.homes = t.homes(); c.down = c.homes[2]; api.act({ op: 'crash', node: c.down }); },
      say: (api, t, c) => `${n(c.down)}, one of cart's homes (${list(c.homes)}), crashes.`,
    },
    {
      run: (api, t, c) => { t.request({ op: 'put', via: c.homes[0], key: 'cart', value: 'v1', context: null }); api.act({ op: 'advance', ms: 1000 }); },
      say: (api, t, c) => `A put still reaches W=2 (${n(c.homes[0])} and ${n(c.homes[1])}); the write to ${n(c.down)} is lost, and with no answer ${n(c.homes[0])} now suspects ${n(c.down)}: ${api.view().nodes.find((x) => x.id === c.homes[0]).suspected.map(n).join(', ') || 'nobody yet'}.`,
    },
    {
      run: (api, t, c) => { t.request({ op: 'put', via: c.homes[0], key: 'cart', value: 'v2', context: null }); c.holder = api.view().nodes.find((x) => x.hint_count > 0)?.id; },
      say: (api, t, c) => { const holder = api.view().nodes.find((x) => x.id === c.holder); return holder ? `The next put routes around the suspect: it writes to the first fallback, ${n(holder.id)}, with a hint naming ${n(c.down)} (sloppy quorum, §4.6). ${n(holder.id)} holds ${holder.hint_count} hint(s).` : 'No hint was stored.'; },
    },
    {
      run: (api, t, c) => { api.act({ op: 'restart', node: c.down }); t.until(() => t.delivered('handoff'), 100, 40); },
      say: (api, t, c) => `${n(c.down)} is back. ${t.delivered('handoff') ? `${n(c.holder)} notices and hands the hinted write off to it (t=${api.view().now_ms} ms).` : 'No handoff yet.'}`,
    },
    {
      run: (api, t, c) => api.act({ op: 'advance', ms: 100 }),
      say: (api, t, c) => { const hints = api.view().nodes.reduce((sum, x) => sum + x.hint_count, 0); const held = api.view().key.replicas.filter((r) => r.how === 'replica').map((r) => r.node); return `${n(c.down)} acknowledged; hints left: ${hints}. Replicas of cart: ${list(held)}.`; },
    },
  ],
};

const antiEntropy = {
  title: 'anti-entropy repairs a replica',
  steps: [
    {
      run: (api, t, c) => {
        api.setKey('k'); c.homes = t.homes(); c.cut = c.homes[2];
        api.act({ op: 'isolate', node: c.cut });
        t.request({ op: 'put', via: c.homes[0], key: 'k', value: 'v', context: null });
        api.act({ op: 'advance', ms: 300 }); api.act({ op: 'heal' });
      },
      say: (api, t, c) => { const held = api.view().key.replicas.filter((r) => r.how === 'replica').map((r) => r.node); return `${n(c.cut)}, a home of key k, was cut off while k was written; the network is healed but ${n(c.cut)} missed the write: replicas of k: ${list(held)}.`; },
    },
    {
      run: (api, t, c) => {
        const repaired = () => api.view().key.replicas.some((r) => r.node === c.cut && r.how === 'replica');
        c.levels = 0;
        for (let i = 0; i < 40 && !repaired(); i++) {
          api.act({ op: 'advance', ms: 1000 });
          if (t.delivered('tree_level', c.cut)) c.levels++;
          if (t.delivered('tree_sync', c.cut)) c.how = 'a tree sync';
          if (t.delivered('handoff', c.cut)) c.how = c.how ?? 'a hinted handoff';
        }
      },
      say: (api, t, c) => { const roots = api.view().key.replicas.filter((r) => r.how === 'replica').map((r) => `${n(r.node)} ${r.merkle_root}`); return `Nodes compare the Merkle trees of each partition level by level and exchange only the ranges that differ (§4.7). By t=${api.view().now_ms} ms ${n(c.cut)} holds k again, brought by ${c.how ?? 'a repair'}; the partition's Merkle roots: ${roots.join(', ')}.`; },
    },
  ],
};

const join = {
  title: 'a join moves partitions',
  steps: [
    {
      run: (api) => { api.act({ op: 'add_node', weight: 1, zone: null }); api.act({ op: 'advance', ms: 1000 }); },
      say: (api) => `n6 starts and announces itself by gossip; it owns nothing yet (status: ${api.view().nodes[5].status}).`,
    },
    {
      run: (api) => { api.act({ op: 'join', via: 1, node: 6 }); api.act({ op: 'advance', ms: 100 }); },
      say: (api) => { const v = api.view(); return `An operator joins n6: ring epoch ${v.ring.epoch} gives it ${v.ring.segments.filter((s) => s.owner === 6).length} of 32 partitions. ${v.moves.length} partitions change home replicas and stream their keys to the new homes (marching outlines).`; },
    },
    {
      run: (api) => { for (let i = 0; i < 10 && !api.view().moves.every((m) => m.done.length === m.added.length); i++) api.act({ op: 'advance', ms: 1000 }); },
      say: (api) => { const v = api.view(); const done = v.moves.reduce((s, m) => s + m.done.length, 0); return `By t=${v.now_ms} ms all ${done} transfers are done: the new homes serve their partitions.`; },
    },
  ],
};

const strategies = {
  title: 'strategy 1 vs strategy 3 (Figure 8)',
  steps: [
    {
      run: (api, t, c) => { api.balance('1,1,1,1,1', 8); c.before = api.efficiencies()[0]; },
      say: (api) => { const [a, b] = api.efficiencies(); return `Five equal nodes. Strategy 1 gives each node 8 random tokens: load efficiency (mean / max) ${a.toFixed(3)}. Strategy 3 splits the ring into equal partitions spread evenly: ${b.toFixed(3)} (§6.2, Figure 8).`; },
    },
    {
      run: (api) => api.balance('1,1,1,1,1', 64),
      say: (api, t, c) => { const [a, b] = api.efficiencies(); return `With 64 tokens per node strategy 1 ${a > c.before ? 'gets closer' : 'gains nothing here'} (${c.before.toFixed(3)} → ${a.toFixed(3)}, strategy 3: ${b.toFixed(3)}), and every node now has 64 ranges to track and transfer.`; },
    },
  ],
};

export const TOURS = { quorum, siblings, handoff, 'anti-entropy': antiEntropy, join, strategies };
export { SETUP as TOUR_SETUP, tools as tourTools };
