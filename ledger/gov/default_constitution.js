// confide's default constitution (spec/ledger-governance.md §3): the
// actions, and a proposal passes once a strict majority of the active
// members votes for it (and fails once a strict majority votes against).
// A proposal may replace it (set_constitution).

const MEMBERS = "public:confide.gov.members.info";
const MEMBER_CERTS = "public:confide.gov.members.certs";
const MEMBER_KEYS = "public:confide.gov.members.encryption_public_keys";
const USERS = "public:app.users";
const CODE_IDS = "public:confide.gov.nodes.code_ids";
const NODES = "public:confide.gov.nodes.info";
const SERVICE = "public:confide.gov.service.info";
const CONFIG = "public:confide.gov.service.config";
const CONSTITUTION = "public:confide.gov.constitution";
const REQUESTS = "public:confide.gov.requests";

function check(cond, what) {
  if (!cond) {
    throw new Error(what);
  }
}

function isString(v) {
  return typeof v === "string" && v.length > 0;
}

function isHex(v, n) {
  return isString(v) && /^[0-9a-f]+$/.test(v) && (n === undefined || v.length === n);
}

function get(map, key) {
  const v = ccf.kv[map].get(key);
  return v === undefined ? undefined : JSON.parse(v);
}

function set(map, key, value) {
  ccf.kv[map].set(key, JSON.stringify(value));
}

function activeMembers() {
  const out = [];
  ccf.kv[MEMBERS].forEach((v, k) => {
    if (JSON.parse(v).status === "Active") {
      out.push(k);
    }
  });
  return out;
}

function recoveryMembers() {
  let n = 0;
  ccf.kv[MEMBER_KEYS].forEach(() => {
    n++;
  });
  return n;
}

function checkEthConfig(args, action) {
  check(args.mode === undefined || args.mode === "public" || args.mode === "private", action + ": mode is public or private");
  for (const k of ["chain_id", "base_fee", "gas_limit"]) {
    check(args[k] === undefined || (Number.isSafeInteger(args[k]) && args[k] >= 0), action + ": " + k + " is a non-negative integer");
  }
  check(args.gas_limit === undefined || args.gas_limit >= 21000, action + ": gas_limit is at least 21000");
}

function config() {
  return get(CONFIG, "config") || { recovery_threshold: 1 };
}

const ROLES = ["Reader", "Contributor", "Administrator"];

const actions = new Map([
  ["set_member", {
    validate(args) {
      check(isString(args.cert), "set_member: cert is a PEM certificate");
      ccf.certFingerprint(args.cert); // throws on a bad certificate
      check(args.encryption_pub_key === undefined || isString(args.encryption_pub_key), "set_member: encryption_pub_key is PEM");
    },
    apply(args) {
      const id = ccf.certFingerprint(args.cert);
      ccf.kv[MEMBER_CERTS].set(id, args.cert);
      if (args.encryption_pub_key !== undefined) {
        ccf.kv[MEMBER_KEYS].set(id, args.encryption_pub_key);
      }
      const old = get(MEMBERS, id);
      set(MEMBERS, id, { status: old ? old.status : "Accepted", member_data: args.member_data });
    },
  }],
  ["remove_member", {
    validate(args) {
      check(isHex(args.member_id, 64), "remove_member: member_id is a member ID");
    },
    apply(args) {
      const id = args.member_id;
      if (!ccf.kv[MEMBERS].has(id)) {
        return;
      }
      const active = activeMembers().filter((m) => m !== id);
      check(active.length > 0, "remove_member: the last active member cannot be removed");
      const keys = recoveryMembers() - (ccf.kv[MEMBER_KEYS].has(id) ? 1 : 0);
      check(keys >= config().recovery_threshold, "remove_member: fewer recovery members would be left than the recovery threshold");
      ccf.kv[MEMBERS].delete(id);
      ccf.kv[MEMBER_CERTS].delete(id);
      ccf.kv[MEMBER_KEYS].delete(id);
    },
  }],
  ["set_user", {
    validate(args) {
      check(isString(args.cert), "set_user: cert is a PEM certificate");
      ccf.certFingerprint(args.cert);
      check(args.role === undefined || ROLES.includes(args.role), "set_user: role is Reader, Contributor or Administrator");
    },
    apply(args) {
      const id = ccf.certFingerprint(args.cert);
      set(USERS, id, { user_id: id, assigned_role: args.role || "Reader", cert: args.cert });
    },
  }],
  ["remove_user", {
    validate(args) {
      check(isHex(args.user_id, 64), "remove_user: user_id is a user ID");
    },
    apply(args) {
      ccf.kv[USERS].delete(args.user_id);
    },
  }],
  ["add_node_code", {
    validate(args) {
      check(isHex(args.code_id), "add_node_code: code_id is a unique ID in hex");
    },
    apply(args) {
      ccf.kv[CODE_IDS].set(args.code_id, JSON.stringify("AllowedToJoin"));
    },
  }],
  ["remove_node_code", {
    validate(args) {
      check(isHex(args.code_id), "remove_node_code: code_id is a unique ID in hex");
    },
    apply(args) {
      ccf.kv[CODE_IDS].delete(args.code_id);
    },
  }],
  ["transition_node_to_trusted", {
    validate(args) {
      check(isString(args.node_id), "transition_node_to_trusted: node_id");
    },
    apply(args) {
      const node = get(NODES, args.node_id);
      check(node !== undefined, "transition_node_to_trusted: no such node");
      check(node.status === "Pending", "transition_node_to_trusted: the node is " + node.status);
      node.status = "Trusted";
      set(NODES, args.node_id, node);
    },
  }],
  ["remove_node", {
    validate(args) {
      check(isString(args.node_id), "remove_node: node_id");
    },
    apply(args) {
      const node = get(NODES, args.node_id);
      if (node !== undefined) {
        node.status = "Retired";
        set(NODES, args.node_id, node);
      }
    },
  }],
  ["transition_service_to_open", {
    validate() {},
    apply() {
      const svc = get(SERVICE, "service") || {};
      check(svc.status !== "Open", "transition_service_to_open: the service is open already");
      svc.status = "Open";
      set(SERVICE, "service", svc);
    },
  }],
  ["set_constitution", {
    validate(args) {
      check(isString(args.constitution), "set_constitution: constitution is JavaScript");
    },
    apply(args) {
      ccf.kv[CONSTITUTION].set("constitution", args.constitution);
    },
  }],
  ["set_recovery_threshold", {
    validate(args) {
      check(Number.isInteger(args.recovery_threshold) && args.recovery_threshold >= 1 && args.recovery_threshold <= 255,
        "set_recovery_threshold: recovery_threshold is an integer from 1 to 255");
    },
    apply(args) {
      check(args.recovery_threshold <= recoveryMembers(), "set_recovery_threshold: more than the recovery members");
      const c = config();
      c.recovery_threshold = args.recovery_threshold;
      set(CONFIG, "config", c);
    },
  }],
  ["set_join_policy", {
    validate(args) {
      check(typeof args.allow_simulated === "boolean", "set_join_policy: allow_simulated is true or false");
    },
    apply(args) {
      const c = config();
      c.allow_simulated = args.allow_simulated;
      set(CONFIG, "config", c);
    },
  }],
  ["trigger_ledger_rekey", {
    validate() {},
    apply(args, proposalId) {
      set(REQUESTS, "rekey", proposalId);
    },
  }],
  // The Ethereum app (spec/ledger-eth.md §1): a chain's genesis — its
  // configuration, funded accounts and address links — and later
  // configuration changes. The app applies the request on the primary
  // (its state is in private maps, out of a script's reach).
  ["set_eth_genesis", {
    validate(args) {
      checkEthConfig(args, "set_eth_genesis");
      check(typeof args.alloc === "object" && args.alloc !== null && !Array.isArray(args.alloc), "set_eth_genesis: alloc maps addresses to balances");
      for (const [addr, wei] of Object.entries(args.alloc)) {
        check(/^0x[0-9a-fA-F]{40}$/.test(addr), "set_eth_genesis: " + addr + " is not an address");
        check(typeof wei === "string" && /^[0-9]{1,78}$/.test(wei), "set_eth_genesis: balances are decimal strings of wei");
      }
      if (args.links !== undefined) {
        check(typeof args.links === "object" && args.links !== null, "set_eth_genesis: links maps addresses to user IDs");
        for (const [addr, user] of Object.entries(args.links)) {
          check(/^0x[0-9a-fA-F]{40}$/.test(addr) && isHex(user, 64), "set_eth_genesis: links maps addresses to user IDs");
        }
      }
    },
    apply(args, proposalId) {
      set(REQUESTS, "eth_genesis", { proposal: proposalId, genesis: args });
    },
  }],
  ["set_eth_config", {
    validate(args) {
      checkEthConfig(args, "set_eth_config");
      check(args.chain_id === undefined, "set_eth_config: the chain ID is fixed at genesis");
    },
    apply(args, proposalId) {
      set(REQUESTS, "eth_config", { proposal: proposalId, config: args });
    },
  }],
  ["trigger_snapshot", {
    validate() {},
    apply(args, proposalId) {
      set(REQUESTS, "snapshot", proposalId);
    },
  }],
]);

export function validate(input) {
  let p;
  try {
    p = JSON.parse(input);
  } catch (e) {
    return { valid: false, description: "the proposal is not JSON" };
  }
  if (!p || !Array.isArray(p.actions) || p.actions.length === 0) {
    return { valid: false, description: "a proposal is {\"actions\": [{\"name\": …, \"args\": {…}}, …]}" };
  }
  for (const [i, a] of p.actions.entries()) {
    const def = actions.get(a.name);
    if (def === undefined) {
      return { valid: false, description: `action ${i}: unknown action ${JSON.stringify(a.name)}` };
    }
    try {
      def.validate(a.args || {});
    } catch (e) {
      return { valid: false, description: `action ${i}: ${e.message}` };
    }
  }
  return { valid: true, description: "OK" };
}

export function resolve(proposal, proposerId, votes) {
  const active = activeMembers();
  const counted = votes.filter((v) => active.includes(v.member_id));
  const yes = counted.filter((v) => v.vote).length;
  const no = counted.length - yes;
  if (2 * yes > active.length) {
    return "Accepted";
  }
  if (2 * no > active.length) {
    return "Rejected";
  }
  return "Open";
}

export function apply(proposal, proposalId) {
  for (const a of JSON.parse(proposal).actions) {
    actions.get(a.name).apply(a.args || {}, proposalId);
  }
}
