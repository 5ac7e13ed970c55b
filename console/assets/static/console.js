// confide console: the little the pages run in the browser. No inline
// code (the Content-Security-Policy forbids it); everything starts from
// data attributes.
"use strict";

const GENESIS = "0".repeat(64);

// concat joins byte arrays (or arrays of byte values) into one.
function concat(...parts) {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

async function sha256(...parts) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", concat(...parts)));
}

async function sha256Hex(bytes) { return hex(await sha256(bytes)); }

// checkAuditChain fetches an exported audit log (one record per line) and
// recomputes its hash chain here, with WebCrypto: each record's "prev" is
// the SHA-256 of the previous line's bytes, the first one's is all zeros,
// and the last line's hash must be the head the service reported
// (spec/audit-log.md).
async function checkAuditChain(el) {
  const say = (cls, text) => { el.className = cls; el.textContent = text; };
  try {
    const resp = await fetch(el.dataset.src, { credentials: "same-origin" });
    if (!resp.ok) { say("error", "The log could not be fetched (" + resp.status + ")."); return; }
    const head = (resp.headers.get("Confide-Audit-Head") || "").split(" ");
    const buf = new Uint8Array(await resp.arrayBuffer());
    const dec = new TextDecoder("utf-8", { fatal: true });
    let prev = GENESIS, seq = 0, start = 0;
    for (let i = 0; i <= buf.length; i++) {
      if (i < buf.length && buf[i] !== 10) continue;
      if (i > start) {
        const line = buf.subarray(start, i);
        const rec = JSON.parse(dec.decode(line));
        if (rec.seq !== seq + 1) { say("error", "Broken chain in your browser: record " + rec.seq + " follows " + seq + "."); return; }
        if (rec.prev !== prev) { say("error", "Broken chain in your browser: record " + rec.seq + " does not link to its predecessor."); return; }
        prev = await sha256Hex(line);
        seq = rec.seq;
      }
      start = i + 1;
    }
    if (String(seq) !== head[0] || (seq > 0 && prev !== head[1])) {
      say("error", "The chain's head (" + seq + ") is not the head the service reports (" + head.join(" ") + ").");
      return;
    }
    say("ok", "Hash chain verified in your browser: " + seq + " records, head " + prev.slice(0, 16) + "…");
  } catch (e) {
    say("error", "The log could not be checked in your browser: " + e.message);
  }
}

// ---- DER, just enough for X.509 certificates (RFC 5280) -------------

function derRead(b, off) {
  if (off + 2 > b.length) throw new Error("DER: truncated");
  const tag = b[off];
  let len = b[off + 1], p = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 4) throw new Error("DER: bad length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[p++];
  }
  if (p + len > b.length) throw new Error("DER: truncated");
  return { tag, off, start: p, end: p + len };
}

function derKids(b, n) {
  const out = [];
  for (let p = n.start; p < n.end;) { const c = derRead(b, p); out.push(c); p = c.end; }
  return out;
}

function bytesEq(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

function hex(b) { return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(""); }

function unhex(s) {
  if (typeof s !== "string" || !/^([0-9a-fA-F]{2})*$/.test(s)) throw new Error("not hex: " + String(s).slice(0, 20));
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(2 * i, 2), 16);
  return out;
}

function pemToDer(pem, label) {
  const m = new RegExp("-----BEGIN " + label + "-----([\\s\\S]*?)-----END " + label + "-----").exec(pem);
  if (!m) throw new Error("no " + label + " in the PEM");
  const bin = atob(m[1].replace(/\s+/g, ""));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

const OID = {
  ecdsaSHA256: unhex("06082a8648ce3d040302"),
  ecdsaSHA384: unhex("06082a8648ce3d040303"),
  p256: unhex("06082a8648ce3d030107"),
  p384: unhex("06052b81040022"),
};

// parseCert splits a certificate into what verification needs.
function parseCert(der) {
  const top = derRead(der, 0);
  const [tbs, alg, sig] = derKids(der, top);
  if (!tbs || !alg || !sig || sig.tag !== 0x03) throw new Error("not a certificate");
  const algOID = derKids(der, alg)[0];
  const algBytes = der.subarray(algOID.off, algOID.end);
  const hash = bytesEq(algBytes, OID.ecdsaSHA256) ? "SHA-256" : bytesEq(algBytes, OID.ecdsaSHA384) ? "SHA-384" : null;
  let kids = derKids(der, tbs);
  if (kids[0].tag === 0xa0) kids = kids.slice(1);
  const spki = kids[5];
  const spkiBytes = der.subarray(spki.off, spki.end);
  const curveOID = derKids(der, derKids(der, spki)[0])[1];
  const cb = der.subarray(curveOID.off, curveOID.end);
  const curve = bytesEq(cb, OID.p256) ? "P-256" : bytesEq(cb, OID.p384) ? "P-384" : null;
  return { tbs: der.subarray(tbs.off, tbs.end), hash, sig: der.subarray(sig.start + 1, sig.end), spki: spkiBytes, curve };
}

// p1363 turns an ASN.1 ECDSA signature into WebCrypto's r ‖ s.
function p1363(der, size) {
  const seq = derRead(der, 0);
  const [r, s] = derKids(der, seq);
  const out = new Uint8Array(2 * size);
  for (const [i, n] of [[0, r], [1, s]]) {
    let v = der.subarray(n.start, n.end);
    while (v.length > size && v[0] === 0) v = v.subarray(1);
    if (v.length > size) throw new Error("ECDSA signature: integer too long");
    out.set(v, (i + 1) * size - v.length);
  }
  return out;
}

async function importSPKI(c) {
  if (!c.curve) throw new Error("the key is not on P-256 or P-384");
  return crypto.subtle.importKey("spki", c.spki, { name: "ECDSA", namedCurve: c.curve }, false, ["verify"]);
}

// issuedBy checks that issuer's key signed cert.
async function issuedBy(cert, issuer) {
  if (!cert.hash) return false;
  const key = await importSPKI(issuer);
  const size = issuer.curve === "P-384" ? 48 : 32;
  return crypto.subtle.verify({ name: "ECDSA", hash: cert.hash }, key, p1363(cert.sig, size), cert.tbs);
}

// verifyInclusion is RFC 9162 §2.1.3.2.
async function verifyInclusion(index, size, leaf, proof, root) {
  if (index >= size) return false;
  let fn = index, sn = size - 1, r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(Uint8Array.of(1), p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      }
    } else {
      r = await sha256(Uint8Array.of(1), r, p);
    }
    fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
  }
  return sn === 0 && bytesEq(r, root);
}

function be64(n) {
  const b = new Uint8Array(8);
  let v = BigInt(n);
  for (let i = 7; i >= 0; i--) { b[i] = Number(v & 0xffn); v >>= 8n; }
  return b;
}

// verifyReceipt checks a ledger receipt against a service certificate
// (spec/ledger-receipt.md, "Verifying a receipt"); it throws the reason.
async function verifyReceipt(rc, servicePEM) {
  const enc = new TextEncoder();
  const m = /^([0-9]+)\.([0-9]+)$/.exec(rc.transaction_id || "");
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw new Error("transaction_id is not view.seqno");
  const seqno = Number(m[2]);
  if (!Number.isSafeInteger(seqno)) throw new Error("seqno too large for this verifier");
  const lc = rc.leaf_components || {};
  const ce = lc.commit_evidence || "";
  const pre = "ce:" + rc.transaction_id + ":";
  if (!ce.startsWith(pre) || !/^[0-9a-f]{64}$/.test(ce.slice(pre.length))) throw new Error("the commit evidence is not this transaction's");
  const ws = unhex(lc.write_set_digest), claims = unhex(lc.claims_digest);
  if (ws.length !== 32 || claims.length !== 32) throw new Error("a leaf digest is not 32 bytes");
  const sig = rc.signature || {};
  if (!(sig.seqno > seqno)) throw new Error("the signature cannot cover this seqno");
  if (!Array.isArray(rc.proof) || rc.proof.length > 64) throw new Error("bad proof");
  const proof = rc.proof.map(unhex);
  if (proof.some((p) => p.length !== 32)) throw new Error("a proof hash is not 32 bytes");
  const root = unhex(sig.root);
  if (root.length !== 32) throw new Error("the root is not 32 bytes");
  const leaf = await sha256(Uint8Array.of(0), ws, await sha256(enc.encode(ce)), claims);
  if (!(await verifyInclusion(seqno - 1, sig.seqno - 1, leaf, proof, root))) throw new Error("the leaf is not under the signed root");
  const node = parseCert(pemToDer(sig.cert || "", "CERTIFICATE"));
  let issuer = parseCert(pemToDer(servicePEM, "CERTIFICATE"));
  let endorsed = await issuedBy(node, issuer);
  for (const e of (rc.service_endorsements || []).slice(0, 8)) {
    if (endorsed) break;
    const ec = parseCert(pemToDer(e, "CERTIFICATE"));
    if (!(await issuedBy(ec, issuer))) throw new Error("a service endorsement is not issued by the service after it");
    endorsed = await issuedBy(node, ec);
    issuer = ec;
  }
  if (!endorsed) throw new Error("the service certificate did not endorse the signing node");
  if (hex(await sha256(node.spki)) !== sig.node) throw new Error("the certificate is not the signing node's");
  const msg = new Uint8Array([...enc.encode("confide-ledger-v1 signature"), ...be64(sig.view), ...be64(sig.seqno), ...root]);
  const der = Uint8Array.from(atob(sig.signature || ""), (c) => c.charCodeAt(0));
  const ok = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, await importSPKI(node), p1363(der, 32), msg);
  if (!ok) throw new Error("the node's signature over the root does not verify");
}

function setupReceipt(el) {
  const out = document.getElementById("receipt-result");
  document.getElementById("verify-receipt").addEventListener("click", async () => {
    // The chosen file is read now, not when it was chosen: a click right
    // after choosing would otherwise race the read.
    const f = document.getElementById("service-cert-file").files[0];
    const chosen = f ? await f.text() : null;
    const svc = chosen || document.getElementById("service-cert").textContent;
    const source = chosen ? "the service certificate you chose" : "the console's copy of the service certificate";
    try {
      const rc = JSON.parse(document.getElementById("receipt").value);
      if (rc.transaction_id !== el.dataset.tx) throw new Error("the receipt is for " + rc.transaction_id + ", not " + el.dataset.tx);
      await verifyReceipt(rc, svc);
      out.className = "ok";
      out.textContent = "Receipt verified in your browser against " + source + ".";
    } catch (e) {
      out.className = "error";
      out.textContent = "The receipt does not verify: " + e.message;
    }
  });
}

// ---- CBOR and COSE_Sign1 (RFC 8949, RFC 9052), for members' ballots ---

function cborHead(major, n) {
  const m = major << 5;
  if (n < 24) return [m | n];
  if (n < 0x100) return [m | 24, n];
  if (n < 0x10000) return [m | 25, n >> 8, n & 255];
  if (n < 0x100000000) return [m | 26, (n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  return [m | 27, ...be64(n)];
}

// cbor encodes integers, strings, byte strings, arrays, Maps (in their
// order) and {tag, value}.
function cbor(v) {
  const parts = [];
  const put = (x) => {
    if (typeof x === "number") {
      if (!Number.isSafeInteger(x)) throw new Error("CBOR: integers only");
      parts.push(x >= 0 ? cborHead(0, x) : cborHead(1, -1 - x));
    } else if (typeof x === "string") {
      const b = new TextEncoder().encode(x);
      parts.push(cborHead(3, b.length), b);
    } else if (x instanceof Uint8Array) {
      parts.push(cborHead(2, x.length), x);
    } else if (Array.isArray(x)) {
      parts.push(cborHead(4, x.length));
      x.forEach(put);
    } else if (x instanceof Map) {
      parts.push(cborHead(5, x.size));
      for (const [k, val] of x) { put(k); put(val); }
    } else if (x && x.tag !== undefined) {
      parts.push(cborHead(6, x.tag));
      put(x.value);
    } else throw new Error("CBOR: unsupported value");
  };
  put(v);
  return concat(...parts);
}

// signBallot makes the member's signed ballot (spec/ledger-governance.md
// §2): a tagged COSE_Sign1 whose protected header names the algorithm,
// the member (kid), the message type, its creation time and the proposal.
async function signBallot(certPEM, keyPEM, proposalID, vote) {
  const certDer = pemToDer(certPEM, "CERTIFICATE");
  const cert = parseCert(certDer);
  const memberID = hex(await sha256(certDer));
  const alg = cert.curve === "P-384" ? -35 : cert.curve === "P-256" ? -7 : null;
  if (alg === null) throw new Error("member keys are on P-256 or P-384");
  const key = await crypto.subtle.importKey("pkcs8", pemToDer(keyPEM, "PRIVATE KEY"),
    { name: "ECDSA", namedCurve: cert.curve }, false, ["sign"]);
  const protectedHdr = cbor(new Map([
    [1, alg],
    [4, new TextEncoder().encode(memberID)],
    ["ccf.gov.msg.type", "ballot"],
    ["ccf.gov.msg.created_at", Math.floor(Date.now() / 1000)],
    ["ccf.gov.msg.proposal_id", proposalID],
  ]));
  const js = "export function vote(proposal, proposerId) { return " + (vote ? "true" : "false") + " }";
  const payload = new TextEncoder().encode(JSON.stringify({ ballot: js }));
  const toSign = cbor(["Signature1", protectedHdr, new Uint8Array(0), payload]);
  const hash = alg === -35 ? "SHA-384" : "SHA-256";
  const sig = new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash }, key, toSign));
  const msg = cbor({ tag: 18, value: [protectedHdr, new Map(), payload, sig] });
  return { memberID, cose: btoa(String.fromCharCode(...msg)) };
}

function setupVote(form) {
  const out = document.getElementById("vote-result");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const certFile = document.getElementById("member-cert").files[0];
      const keyFile = document.getElementById("member-key").files[0];
      if (!certFile || !keyFile) throw new Error("choose your member certificate and key");
      const vote = form.querySelector("input[name=choice]:checked").value === "yes";
      const b = await signBallot(await certFile.text(), await keyFile.text(), form.dataset.proposal, vote);
      form.elements.member.value = b.memberID;
      form.elements.cose.value = b.cose;
      out.className = "muted";
      out.textContent = "Signed as member " + b.memberID.slice(0, 16) + "…; submitting.";
      form.submit();
    } catch (e) {
      out.className = "error";
      out.textContent = "Not signed: " + e.message;
    }
  });
}

// ---- HPKE (RFC 9180) open, base mode: DHKEM(X25519, HKDF-SHA256),
// HKDF-SHA256, AES-256-GCM — how the trainer encrypts reports ----------

async function hmac(key, data) {
  const k = await crypto.subtle.importKey("raw", key.length ? key : new Uint8Array(32), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, data));
}

async function hkdfExpand(prk, info, len) {
  let t = new Uint8Array(0), out = new Uint8Array(0);
  for (let i = 1; out.length < len; i++) {
    t = await hmac(prk, concat(t, info, Uint8Array.of(i)));
    out = concat(out, t);
  }
  return out.subarray(0, len);
}

const te = new TextEncoder();
const KEM_ID = Uint8Array.of(0, 0x20);
const SUITE_KEM = concat(te.encode("KEM"), KEM_ID);
const SUITE_HPKE = concat(te.encode("HPKE"), KEM_ID, Uint8Array.of(0, 1), Uint8Array.of(0, 2));

const labeledExtract = (suite, salt, label, ikm) => hmac(salt, concat(te.encode("HPKE-v1"), suite, te.encode(label), ikm));
const labeledExpand = (suite, prk, label, info, len) =>
  hkdfExpand(prk, concat(Uint8Array.of(len >> 8, len & 255), te.encode("HPKE-v1"), suite, te.encode(label), info), len);

function b64url(s) {
  return Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
}

// hpkeOpen opens a single-shot HPKE ciphertext (enc ‖ sealed) with an
// X25519 private key given as PKCS #8.
async function hpkeOpen(pkcs8, info, ct) {
  const sk = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "X25519" }, true, ["deriveBits"]);
  const pkRm = b64url((await crypto.subtle.exportKey("jwk", sk)).x);
  const enc = ct.subarray(0, 32), sealed = ct.subarray(32);
  const pkE = await crypto.subtle.importKey("raw", enc, { name: "X25519" }, true, []);
  const dh = new Uint8Array(await crypto.subtle.deriveBits({ name: "X25519", public: pkE }, sk, 256));
  const eaePRK = await labeledExtract(SUITE_KEM, new Uint8Array(0), "eae_prk", dh);
  const shared = await labeledExpand(SUITE_KEM, eaePRK, "shared_secret", concat(enc, pkRm), 32);
  const pskIDHash = await labeledExtract(SUITE_HPKE, new Uint8Array(0), "psk_id_hash", new Uint8Array(0));
  const infoHash = await labeledExtract(SUITE_HPKE, new Uint8Array(0), "info_hash", info);
  const ksc = concat(Uint8Array.of(0), pskIDHash, infoHash);
  const secret = await labeledExtract(SUITE_HPKE, shared, "secret", new Uint8Array(0));
  const key = await labeledExpand(SUITE_HPKE, secret, "key", ksc, 32);
  const nonce = await labeledExpand(SUITE_HPKE, secret, "base_nonce", ksc, 12);
  const k = await crypto.subtle.importKey("raw", key, { name: "AES-GCM" }, false, ["decrypt"]);
  return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: nonce }, k, sealed));
}

// svgBars draws a horizontal bar chart of [label, value] pairs scaled to
// max, as an SVG element built node by node (no markup from data).
function svgBars(rows, max, fmt) {
  const ns = "http://www.w3.org/2000/svg", h = 26, w = 520, lw = 170;
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", String(w));
  svg.setAttribute("height", String(rows.length * h + 4));
  svg.setAttribute("class", "chart");
  rows.forEach(([label, v], i) => {
    const t = document.createElementNS(ns, "text");
    t.setAttribute("x", "0"); t.setAttribute("y", String(i * h + 17));
    t.textContent = label;
    const r = document.createElementNS(ns, "rect");
    r.setAttribute("x", String(lw)); r.setAttribute("y", String(i * h + 4));
    r.setAttribute("height", String(h - 8));
    r.setAttribute("width", String(Math.max(1, Math.round((w - lw - 80) * Math.min(1, v / max)))));
    const n = document.createElementNS(ns, "text");
    n.setAttribute("x", String(lw + Math.round((w - lw - 80) * Math.min(1, v / max)) + 6)); n.setAttribute("y", String(i * h + 17));
    n.textContent = fmt(v);
    svg.append(t, r, n);
  });
  return svg;
}

function renderReport(out, rep, verified) {
  out.replaceChildren();
  const p = document.createElement("p");
  p.className = verified ? "ok" : "error";
  p.textContent = verified ? "Report opened in your browser; its hash is the one the trainer's evidence binds."
    : "Report opened, but its hash is NOT the one the trainer's evidence binds.";
  const tbl = document.createElement("table");
  tbl.className = "kv metrics";
  for (const [k, v] of Object.entries(rep.metrics || {})) {
    const tr = tbl.insertRow();
    const th = document.createElement("th"); th.textContent = k;
    const td = tr.insertCell(); td.textContent = typeof v === "number" && !Number.isInteger(v) ? v.toFixed(4) : String(v);
    tr.prepend(th);
  }
  const acc = Object.entries(rep.metrics || {}).filter(([k, v]) => typeof v === "number" && /accuracy/.test(k));
  const h = document.createElement("h4"); h.textContent = "Accuracy";
  const rows = document.createElement("h4"); rows.textContent = "Rows per party (training / holdout)";
  out.append(p, tbl);
  if (acc.length) out.append(h, svgBars(acc, 1, (v) => (100 * v).toFixed(1) + "%"));
  const parts = (rep.parties || []).flatMap((x) => [[x.name + " train", x.train_rows], [x.name + " holdout", x.holdout_rows]]);
  if (parts.length) out.append(rows, svgBars(parts, Math.max(...parts.map((x) => x[1]), 1), (v) => String(v)));
}

function setupReport(sec) {
  const out = sec.querySelector(".report-out");
  sec.querySelector(".party-keys").addEventListener("change", async (ev) => {
    try {
      const f = ev.target.files[0];
      if (!f) return;
      const envText = sec.querySelector(".envelope").value;
      if (!envText) throw new Error("no report for this party");
      const env = JSON.parse(envText);
      const party = sec.dataset.party;
      if (env.recipient !== party || env.manifest_sha256 !== sec.dataset.manifest) throw new Error("the envelope is not this party's for this job");
      const pkcs8 = pemToDer(await f.text(), "CONFIDE ML OUTPUT KEY");
      const info = concat(te.encode("confide ml output v1\n"), unhex(sec.dataset.manifest), te.encode("\n" + party + "\n" + env.what));
      const ct = Uint8Array.from(atob(env.ciphertext), (c) => c.charCodeAt(0));
      const plain = await hpkeOpen(pkcs8, info, ct);
      const verified = sec.dataset.reportHash !== "" && hex(await sha256(plain)) === sec.dataset.reportHash;
      renderReport(out, JSON.parse(new TextDecoder().decode(plain)), verified);
    } catch (e) {
      out.replaceChildren();
      const p = document.createElement("p");
      p.className = "error";
      p.textContent = "The report does not open with this key: " + (e.message || e.name);
      out.append(p);
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("section.report[data-party]").forEach(setupReport);
  document.querySelectorAll("#chain-browser[data-src]").forEach(checkAuditChain);
  const rv = document.getElementById("receipt-verifier");
  if (rv) setupReceipt(rv);
  const vf = document.getElementById("vote-form");
  if (vf) setupVote(vf);
  const evf = document.getElementById("evidence-file");
  if (evf) {
    // The chosen file is read here and put into the form as base64.
    evf.addEventListener("change", async () => {
      const f = evf.files[0];
      if (!f) return;
      const b = new Uint8Array(await f.arrayBuffer());
      let s = "";
      for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
      document.querySelector("#evidence-form textarea[name=evidence]").value = btoa(s);
    });
  }
});
