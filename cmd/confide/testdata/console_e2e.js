// The web console in a real browser (Debian's chromium, driven by
// playwright-core) against a live `confide dev`: sign-in, every page,
// a policy edited with its diff, a token verified, the audit chain
// checked in the page, a reader's denied action, forged requests refused.
// Screenshots go to OUT_DIR. Prints one JSON line: {"ok":true,"shots":[…]}.
"use strict";
const path = require("path");
const { chromium } = require(path.join(process.argv[2], "playwright-core"));

const base = process.env.CONSOLE_URL;
const out = process.env.OUT_DIR;
const shots = [];

function check(cond, what) {
  if (!cond) throw new Error("check failed: " + what);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(out, name + ".png"), fullPage: true });
  shots.push(name);
}

async function signin(page, token) {
  await page.goto(base + "/");
  check(page.url().startsWith(base + "/signin"), "unsigned visit goes to sign-in, at " + page.url());
  await page.fill("input[name=token]", token);
  await page.click("button[type=submit]");
  try {
    await page.waitForURL((u) => !u.pathname.startsWith("/signin"), { timeout: 10000 });
  } catch (e) {
    throw new Error("sign-in failed at " + page.url() + ": " + (await page.textContent("main")));
  }
}

(async () => {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  try {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await ctx.newPage();
    const cspErrors = [];
    page.on("console", (m) => { if (/Content Security Policy/.test(m.text())) cspErrors.push(m.text()); });

    // Sign-in: a wrong token is refused, then the admin's.
    const first = await page.goto(base + "/signin");
    check((first.headers()["content-security-policy"] || "").includes("default-src 'none'"), "CSP header");
    await shot(page, "signin");
    await page.fill("input[name=token]", "not-a-token");
    await page.click("button[type=submit]");
    await page.waitForSelector("p.error");
    await signin(page, process.env.ADMIN_TOKEN);

    // Overview: the platform and each service's attested identity.
    check(page.url() === base + "/", "signed in to the overview, at " + page.url());
    const ov = await page.textContent("main");
    check(ov.includes("SIMULATED") && ov.includes("Attestation service") && ov.includes("Key broker"), "overview lists the services");
    check((await page.locator("section.card h2 .badge.ok").count()) === 5, "five services healthy: " + (await page.locator("section.card h2").allTextContents()).join("; "));
    check(ov.includes("unique ID") && ov.includes("UpToDate"), "identities shown");
    await shot(page, "overview");

    // Attestation: a new policy, previewed, saved; then edited with a diff.
    await page.click("nav >> text=Attestation");
    await page.click("summary");
    await page.fill("input[name=name]", "web");
    await page.fill("details textarea[name=policy]", '{"version":"1.0.0","anyOf":[{"claim":"platform","equals":"sim"}]}');
    await page.click("details button[type=submit]");
    await page.waitForSelector("#diff .dadd");
    await shot(page, "policy-new-preview");
    await page.click("form[action='/attestation/policies/web'] button");
    await page.waitForSelector("text=Saved as version 1");
    await page.fill("form[action$='/preview'] textarea", '{"version":"1.0.0","anyOf":[{"claim":"platform","equals":"sim"},{"claim":"debug","equals":true}]}');
    await page.click("form[action$='/preview'] button");
    await page.waitForSelector("#diff .ddel");
    check((await page.locator("#diff .dadd").count()) === 1, "one added line in the diff");
    await shot(page, "policy-diff");
    await page.click("form[action='/attestation/policies/web'] button");
    await page.waitForSelector("text=Saved as version 2");
    check((await page.locator("#history tbody tr").count()) === 2, "two versions in the history");
    check((await page.textContent("main")).includes("Audit chain verified"), "history from a verified audit chain");
    await shot(page, "policy");
    // An invalid edit: refused with the reason.
    await page.fill("form[action$='/preview'] textarea", '{"version":"1.0.0","anyOf":[{"claim":"x"}]}');
    await page.click("form[action$='/preview'] button");
    await page.waitForSelector("p.error >> text=not valid");

    // A token verified against the JWKS, claim by claim; a tampered one fails.
    await page.goto(base + "/attestation");
    await page.fill("form[action='/attestation/token'] textarea", process.env.ATTEST_TOKEN);
    await page.click("form[action='/attestation/token'] button");
    await page.waitForSelector("#token-result.ok");
    check((await page.textContent("#claims")).includes("unique_id"), "claims listed");
    await shot(page, "token");
    await page.goto(base + "/attestation");
    const t = process.env.ATTEST_TOKEN;
    await page.fill("form[action='/attestation/token'] textarea", t.slice(0, -4) + (t.endsWith("AAAA") ? "BBBB" : "AAAA"));
    await page.click("form[action='/attestation/token'] button");
    await page.waitForSelector("#token-result.error");

    // Evidence from a file, checked against the deployment's roots; the
    // attestation service's recent appraisals.
    await page.goto(base + "/attestation");
    check((await page.locator("#appraisals tbody tr").count()) >= 1, "recent appraisals listed");
    await shot(page, "attestation");
    await page.setInputFiles("#evidence-file", process.env.EVIDENCE_FILE);
    await page.waitForFunction(() => document.querySelector("#evidence-form textarea").value.length > 100);
    await page.fill("#evidence-form input[name=nonce]", "0a0b");
    await page.click("#evidence-form button");
    await page.waitForSelector("#token-result.ok");
    check((await page.textContent("#claims")).includes("report_data"), "evidence claims listed");
    await shot(page, "evidence");

    // Key broker: keys, a key's release policy and grants, the audit log
    // with its chain recomputed in this browser.
    await page.click("nav >> text=Key broker");
    await page.waitForSelector("#keys >> text=" + process.env.KEY_NAME);
    await shot(page, "keys");
    await page.click("#keys >> text=" + process.env.KEY_NAME);
    check((await page.textContent("main")).includes("Release policy"), "key page");
    await shot(page, "key");
    await page.goto(base + "/keys/audit");
    await page.waitForSelector("#chain-browser.ok");
    check((await page.textContent("#chain-browser")).includes("verified in your browser"), "chain verified in the browser");
    check((await page.locator("#denials tbody tr").count()) >= 1, "denials listed");
    await shot(page, "kms-audit");

    // Ledger: nodes, a collection's transactions, a transaction whose
    // receipt this browser verifies against the service certificate the
    // user chose (and a tampered one fails), governance, a proposal voted
    // on with ballots signed here by two members' keys, the constitution.
    const ldir = process.env.LEDGER_DIR;
    await page.click("nav >> text=Ledger");
    check((await page.locator("#nodes tbody tr").count()) >= 1, "nodes listed");
    check((await page.textContent("#collections")).includes("console"), "collections listed");
    await shot(page, "ledger");
    await page.goto(base + "/ledger/transactions?collection_id=console");
    check((await page.locator("#transactions tbody tr").count()) === 3, "three transactions in the collection");
    await shot(page, "ledger-transactions");
    await page.click("#transactions >> text=" + process.env.TX_ID);
    check((await page.textContent("#tx-status")) === "Committed", "committed");
    await page.setInputFiles("#service-cert-file", path.join(ldir, "service_cert.pem"));
    await page.click("#verify-receipt");
    await page.waitForSelector("#receipt-result.ok");
    check((await page.textContent("#receipt-result")).includes("the service certificate you chose"), "verified against the chosen certificate");
    await shot(page, "ledger-receipt");
    const good = await page.inputValue("#receipt");
    const rc = JSON.parse(good);
    const flip = (h) => (h[0] === "0" ? "1" : "0") + h.slice(1);
    for (const [what, edit] of [
      ["write-set digest", (r) => { r.leaf_components.write_set_digest = flip(r.leaf_components.write_set_digest); }],
      ["signed root", (r) => { r.signature.root = flip(r.signature.root); }],
      ["commit evidence", (r) => { r.leaf_components.commit_evidence = r.leaf_components.commit_evidence.slice(0, -1) + "0"; }],
    ]) {
      const bad = JSON.parse(good);
      edit(bad);
      if (JSON.stringify(bad) === JSON.stringify(rc)) continue;
      await page.fill("#receipt", JSON.stringify(bad, null, 2));
      await page.click("#verify-receipt");
      await page.waitForSelector("#receipt-result.error");
      check((await page.textContent("#receipt-result")).includes("does not verify"), "a tampered " + what + " fails");
      if (what === "write-set digest") await shot(page, "ledger-receipt-tampered");
      await page.fill("#receipt", good);
      await page.click("#verify-receipt");
      await page.waitForSelector("#receipt-result.ok");
    }
    // Another certificate than the service's: refused.
    await page.setInputFiles("#service-cert-file", path.join(ldir, "member0_cert.pem"));
    await page.click("#verify-receipt");
    await page.waitForSelector("#receipt-result.error");

    await page.goto(base + "/ledger/governance");
    check((await page.locator("#members tbody tr").count()) >= 3, "members listed");
    await shot(page, "ledger-governance");
    for (const [i, m] of ["member0", "member1"].entries()) {
      await page.goto(base + "/ledger/proposals/" + process.env.PROPOSAL_ID);
      await page.setInputFiles("#member-cert", path.join(ldir, m + "_cert.pem"));
      await page.setInputFiles("#member-key", path.join(ldir, m + "_privk.pem"));
      if (i === 0) await shot(page, "ledger-proposal");
      await page.click("#vote-form button[type=submit]");
      await page.waitForSelector("#voted");
    }
    check((await page.textContent("#proposal-state")) === "Accepted", "accepted after two of three members voted for it");
    check((await page.locator("#ballots tbody tr").count()) === 2, "two ballots");
    await shot(page, "ledger-proposal-accepted");
    await page.goto(base + "/ledger/constitution");
    check((await page.textContent("#constitution")).includes("export function"), "constitution shown");
    await shot(page, "ledger-constitution");

    // Ethereum: blocks, a transfer with its receipt, its block's list.
    await page.click("nav >> text=Ethereum");
    check((await page.locator("#blocks tbody tr").count()) >= 2, "blocks listed");
    check((await page.textContent("main")).includes("as your own ledger user"), "the admin reads the app as its own ledger user");
    await shot(page, "ethereum");
    await page.goto(base + "/ethereum/tx/" + process.env.ETH_TX);
    check((await page.textContent("#eth-receipt")).includes("success"), "the transfer's receipt");
    check((await page.textContent("#eth-tx")).includes("12345"), "the transfer's value");
    await shot(page, "ethereum-tx");
    await page.click("#eth-tx a");
    check((await page.textContent("#eth-txs")).includes(process.env.ETH_TX.slice(0, 16)), "the block lists the transfer");
    await shot(page, "ethereum-block");

    // Always Encrypted SQL: the database's tables and keys, as a DBA sees them.
    await page.click("nav >> text=SQL");
    await page.click("#databases >> text=confide");
    const patients = await page.textContent("table[data-table=patients]");
    check(patients.includes("DETERMINISTIC") && patients.includes("RANDOMIZED") && patients.includes("plaintext") && patients.includes("console_cek"), "encrypted columns shown");
    check((await page.textContent("#cmks")).includes("console_cmk") && (await page.textContent("#ceks")).includes("RSA_OAEP"), "keys shown");
    await shot(page, "sql");

    // Multi-party ML: the job, each party's signature, the trainer's
    // evidence; h1's report opened in this browser with h1's keys file
    // (and not with h2's keys for h1's report).
    await page.click("nav >> text=Machine learning");
    await page.click("#jobs >> text=console-job");
    check((await page.textContent("#job-state")) === "done", "the job is done");
    check((await page.locator("#signatures .badge.ok").count()) === 2, "both signatures valid");
    const h1 = page.locator("section.report[data-party=h1]");
    check((await h1.textContent()).includes("Trainer evidence verified"), "the trainer's evidence verified");
    await h1.locator(".party-keys").setInputFiles(process.env.ML_OTHER_KEYS);
    await h1.locator(".report-out p.error").waitFor();
    await h1.locator(".party-keys").setInputFiles(process.env.ML_KEYS);
    await h1.locator(".report-out p.ok").waitFor();
    check((await h1.locator("table.metrics").textContent()).includes("holdout_accuracy"), "metrics shown");
    check((await h1.locator("svg.chart").count()) === 2, "accuracy and rows charts");
    await shot(page, "ml-job");
    await page.goto(base + "/ml");
    await shot(page, "ml");

    // Demos: the multi-party demo run now against the live services, its
    // chart drawn anew.
    await page.click("nav >> text=Demos");
    await page.click("#mpml button[type=submit]");
    await page.waitForURL(base + "/demos#mpml", { timeout: 180000 });
    check((await page.textContent("#mpml .demo-output")).includes("joint accuracy="), "the demo ran: " + (await page.textContent("#mpml")));
    await page.waitForFunction(() => { const i = document.querySelector("#mpml img.demo-figure"); return i && i.complete && i.naturalWidth > 0; });
    await page.click("#eth button[type=submit]");
    await page.waitForURL(base + "/demos#eth", { timeout: 180000 });
    check((await page.textContent("#eth .demo-output")).includes("transfers"), "the Ethereum demo ran: " + (await page.textContent("#eth")));
    await page.waitForFunction(() => { const i = document.querySelector("#eth img.demo-figure"); return i && i.complete && i.naturalWidth > 0; });
    await shot(page, "demos");

    // Forged requests: without the CSRF token, from this very page.
    const forged = await page.evaluate(async () => (await fetch("/attestation/policies/web", {
      method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: "policy=%7B%7D",
    })).status);
    check(forged === 403, "a POST without the CSRF token is refused, got " + forged);

    // A reader: may not read policies, and a save it forges with its own
    // valid CSRF token is refused by the service.
    const rctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const rpage = await rctx.newPage();
    await signin(rpage, process.env.READER_TOKEN);
    await rpage.goto(base + "/attestation");
    check((await rpage.textContent("main")).includes("may not read"), "reader sees the policies are not for it");
    check((await rpage.locator("text=New policy").count()) === 0, "no create form for a reader");
    const denied = await rpage.evaluate(async () => {
      const csrf = document.querySelector("form.signout input[name=csrf]").value;
      const r = await fetch("/attestation/policies/web", {
        method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: "csrf=" + encodeURIComponent(csrf) + "&policy=" + encodeURIComponent('{"version":"1.0.0","anyOf":[{"claim":"platform","equals":"sim"}]}'),
      });
      return { status: r.status, body: await r.text() };
    });
    check(denied.status === 403 && denied.body.includes("The service refused"), "the reader's save is refused: " + denied.status);
    await rpage.goto(base + "/demos");
    check((await rpage.locator("#mpml button").count()) === 0, "no demo button for a reader");
    const demoDenied = await rpage.evaluate(async () => {
      const csrf = document.querySelector("form.signout input[name=csrf]").value;
      return (await fetch("/demos/mpml", { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: "csrf=" + encodeURIComponent(csrf) })).status;
    });
    check(demoDenied === 403, "a reader may not run a demo: " + demoDenied);
    await rpage.goto(base + "/keys");
    check((await rpage.textContent("main")).includes("may not list"), "reader may not list keys");
    await shot(rpage, "denied");

    // Sign out: the session is gone.
    await page.click("form.signout button");
    await page.waitForURL(base + "/signin");
    await page.goto(base + "/keys");
    check(page.url().startsWith(base + "/signin"), "signed out");
    check(cspErrors.length === 0, "no CSP violations: " + cspErrors.join("; "));
    console.log(JSON.stringify({ ok: true, shots }));
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(e.stack || String(e)); process.exit(1); });
