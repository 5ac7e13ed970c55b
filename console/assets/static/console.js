// confide console: the little the pages run in the browser. No inline
// code (the Content-Security-Policy forbids it); everything starts from
// data attributes.
"use strict";

const GENESIS = "0".repeat(64);

async function sha256Hex(bytes) {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

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

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("#chain-browser[data-src]").forEach(checkAuditChain);
});
