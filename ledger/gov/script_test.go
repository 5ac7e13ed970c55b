package gov_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/confide/confide/ledger/app"
	"github.com/confide/confide/ledger/gov"
	"github.com/confide/confide/ledger/kv"
)

// TestScripts runs the governance scenarios in testdata/scripts: every command
// is one transaction on a store; a refused one writes nothing (checked).
//
//	genesis members=a,b,c [recovery=a,b] [threshold=n]
//	identity d                 a key and certificate for d (not yet a member)
//	propose by=a [as=p1]       the input is the proposal; {{cert:d}} is d's
//	                           certificate as a JSON string, {{id:d}} its ID,
//	                           {{constitution:NAME}} a constitution below
//	vote by=b proposal=p1 yes|no   or the input as the ballot's JavaScript
//	withdraw by=a proposal=p1
//	ack by=d
//	replay                     the last signed request again
//	clock +10m                 move the primary's clock
//	stale by=a -10m            a proposal signed 10 minutes ago
//	send by=a type=ballot [proposal=p1]  the input as the payload of a
//	                           request of that type to the ballot endpoint
//	raw                        the input's bytes as a request
//	forged by=a                a proposal whose signature is another member's
//	members / users / show p1 / get MAP KEY
func TestScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/scripts", func(t *testing.T, path string) {
		w := &world{t: t, store: kv.New(), ids: map[string]*ident{}, props: map[string]string{}, now: time.Unix(1_800_000_000, 0),
			secret: []byte("the ledger secret, 32 bytes long")}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return w.run(d)
		})
	})
}

type ident struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
	enc  *rsa.PrivateKey // made on first use
}

type world struct {
	t     *testing.T
	store *kv.Store
	seq   uint64
	ids   map[string]*ident
	props map[string]string // alias → proposal ID
	names map[string]string // member or user ID → name
	now   time.Time
	last  []byte // the last signed request
	// secret is the ledger secret the recovery material wraps; saved
	// holds encrypted shares kept by save-shares.
	secret []byte
	saved  map[string]string
}

// encKey is a member's encryption public key, PEM.
func (w *world) encKey(name string) string {
	id := w.identity(name)
	if id.enc == nil {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			w.t.Fatal(err)
		}
		id.enc = k
	}
	der, _ := x509.MarshalPKIXPublicKey(&id.enc.PublicKey)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func (w *world) identity(name string) *ident {
	if id := w.ids[name]; id != nil {
		return id
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		w.t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(len(w.ids) + 1)), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(4_000_000_000, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		w.t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	w.ids[name] = &ident{key: key, cert: cert}
	if w.names == nil {
		w.names = map[string]string{}
	}
	w.names[gov.MemberID(cert)] = name
	return w.ids[name]
}

func (w *world) pem(name string) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: w.identity(name).cert.Raw}))
}

// expand replaces the script's placeholders.
func (w *world) expand(s string) string {
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			return s
		}
		j := strings.Index(s[i:], "}}")
		kind, arg, _ := strings.Cut(s[i+2:i+j], ":")
		var rep string
		switch kind {
		case "cert":
			b, _ := json.Marshal(w.pem(arg))
			rep = string(b)
		case "id":
			rep = gov.MemberID(w.identity(arg).cert)
		case "enckey":
			b, _ := json.Marshal(w.encKey(arg))
			rep = string(b)
		case "constitution":
			b, _ := json.Marshal(constitutions[arg])
			rep = string(b)
		default:
			w.t.Fatalf("placeholder %q", s[i:i+j+2])
		}
		s = s[:i] + rep + s[i+j+2:]
	}
}

// tx runs fn as one transaction: applied if it succeeds, dropped (and
// checked to have written nothing) if not.
func (w *world) tx(fn func(tx *kv.Tx) (string, error)) string {
	tx := w.store.Begin()
	out, err := fn(tx)
	if err != nil {
		return "error: " + err.Error()
	}
	if ws := tx.WriteSet(); ws != nil {
		w.seq++
		if err := w.store.Apply(w.seq, [32]byte{byte(w.seq)}, ws); err != nil {
			w.t.Fatal(err)
		}
		w.store.Commit(w.seq)
	}
	return out
}

func (w *world) sign(by, typ, proposal string, at time.Time, body []byte) []byte {
	id := w.identity(by)
	b, err := gov.Sign(id.key, id.cert, typ, proposal, at, body)
	if err != nil {
		w.t.Fatal(err)
	}
	w.last = b
	return b
}

func (w *world) proposalID(alias string) string {
	if id, ok := w.props[alias]; ok {
		return id
	}
	return alias
}

// describe shows a proposal's record with names for IDs.
func (w *world) describe(alias string, info gov.ProposalInfo) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s (by %s)", alias, info.State, w.names[info.ProposerID])
	var votes []string
	for m, v := range info.FinalVotes {
		votes = append(votes, fmt.Sprintf("%s=%v", w.names[m], v))
	}
	for m := range info.VoteFailures {
		votes = append(votes, w.names[m]+"=failed")
	}
	slices.Sort(votes)
	if len(votes) > 0 {
		fmt.Fprintf(&b, " votes %s", strings.Join(votes, " "))
	}
	if info.Failure != "" {
		fmt.Fprintf(&b, "\nfailure: %s", info.Failure)
	}
	return b.String()
}

func (w *world) run(d *datadriven.TestData) string {
	t := w.t
	arg := func(key string) string {
		for _, a := range d.CmdArgs {
			if a.Key == key {
				if len(a.Vals) == 0 {
					return ""
				}
				return strings.Join(a.Vals, ",")
			}
		}
		return ""
	}
	has := func(key string) bool {
		for _, a := range d.CmdArgs {
			if a.Key == key {
				return true
			}
		}
		return false
	}
	switch d.Cmd {
	case "genesis":
		g := gov.Genesis{Secret: w.secret}
		recovery := strings.Split(arg("recovery"), ",")
		for _, m := range strings.Split(arg("members"), ",") {
			gm := gov.GenesisMember{Cert: w.identity(m).cert}
			if slices.Contains(recovery, m) {
				gm.EncryptionKey = []byte(w.encKey(m))
			}
			g.Members = append(g.Members, gm)
		}
		if s := arg("threshold"); s != "" {
			fmt.Sscan(s, &g.RecoveryThreshold)
		}
		return w.tx(func(tx *kv.Tx) (string, error) { return "ok", gov.WriteGenesis(tx, g) })
	case "identity":
		w.identity(d.CmdArgs[0].Key)
		return "ok"
	case "clock":
		dur, err := time.ParseDuration(d.CmdArgs[0].Key)
		if err != nil {
			t.Fatal(err)
		}
		w.now = w.now.Add(dur)
		return "ok"
	case "propose", "stale", "forged":
		at := w.now
		if d.Cmd == "stale" {
			dur, _ := time.ParseDuration(d.CmdArgs[1].Key)
			at = at.Add(dur)
		}
		raw := w.sign(arg("by"), gov.TypeProposal, "", at, []byte(w.expand(d.Input)))
		if d.Cmd == "forged" {
			// The header names by; the signature is another key's.
			other := w.identity("forger")
			forged, err := gov.Sign(other.key, w.identity(arg("by")).cert, gov.TypeProposal, "", at, []byte(w.expand(d.Input)))
			if err != nil {
				t.Fatal(err)
			}
			raw = forged
		}
		return w.propose(raw, arg("as"))
	case "vote":
		ballot := d.Input
		switch {
		case has("yes"):
			ballot = "export function vote(proposal, proposerId) { return true }"
		case has("no"):
			ballot = "export function vote(proposal, proposerId) { return false }"
		}
		body, _ := json.Marshal(map[string]string{"ballot": ballot})
		raw := w.sign(arg("by"), gov.TypeBallot, w.proposalID(arg("proposal")), w.now, body)
		return w.vote(raw, arg("proposal"))
	case "withdraw":
		raw := w.sign(arg("by"), gov.TypeWithdrawal, w.proposalID(arg("proposal")), w.now, nil)
		return w.tx(func(tx *kv.Tx) (string, error) {
			r, err := gov.Verify(tx, raw, gov.TypeWithdrawal, w.now)
			if err != nil {
				return "", err
			}
			info, err := gov.Withdraw(tx, r)
			return w.describe(arg("proposal"), info), err
		})
	case "ack":
		raw := w.sign(arg("by"), gov.TypeAck, "", w.now, nil)
		return w.tx(func(tx *kv.Tx) (string, error) {
			r, err := gov.Verify(tx, raw, gov.TypeAck, w.now)
			if err != nil {
				return "", err
			}
			return "ok", gov.Ack(tx, r)
		})
	case "replay":
		return w.vote(w.last, "")
	case "send":
		raw := w.sign(arg("by"), arg("type"), w.proposalID(arg("proposal")), w.now, []byte(d.Input))
		return w.vote(raw, arg("proposal"))
	case "raw":
		return w.propose([]byte(d.Input), "")
	case "save-shares":
		w.saved = map[string]string{}
		w.store.Range(gov.MapRecoveryShares, func(k, v []byte) bool {
			w.saved[string(k)] = string(v)
			return true
		})
		return fmt.Sprintf("%d shares", len(w.saved))
	case "recover":
		var shares [][]byte
		for _, m := range strings.Split(arg("by"), ",") {
			id := gov.MemberID(w.identity(m).cert)
			enc, ok := w.store.Get(gov.MapRecoveryShares, []byte(id))
			if has("old") {
				var s string
				s, ok = w.saved[id]
				enc = []byte(s)
			}
			if !ok {
				return "error: no share for " + m
			}
			share, err := gov.DecryptShare(w.ids[m].enc, string(enc))
			if err != nil {
				return "error: " + err.Error()
			}
			shares = append(shares, share)
		}
		wrapped, ok := w.store.Get(gov.MapWrappedSecret, []byte("current"))
		if !ok {
			return "error: no wrapped secret"
		}
		secret, err := gov.Recover(wrapped, shares)
		if err != nil {
			return "error: " + err.Error()
		}
		if string(secret) != string(w.secret) {
			return "recovered the wrong secret"
		}
		return "recovered the ledger secret"
	case "members":
		var out []string
		w.store.Range(gov.MapMemberInfo, func(k, v []byte) bool {
			var mi gov.MemberInfo
			json.Unmarshal(v, &mi)
			_, key := w.store.Get(gov.MapMemberKeys, k)
			out = append(out, fmt.Sprintf("%s %s recovery=%v", w.names[string(k)], mi.Status, key))
			return true
		})
		slices.Sort(out)
		return strings.Join(out, "\n")
	case "users":
		var out []string
		w.store.Range(app.MapUsers, func(k, v []byte) bool {
			var u app.User
			json.Unmarshal(v, &u)
			out = append(out, w.names[string(k)]+" "+u.Role)
			return true
		})
		slices.Sort(out)
		if len(out) == 0 {
			return "none"
		}
		return strings.Join(out, "\n")
	case "show":
		alias := d.CmdArgs[0].Key
		_, info, err := gov.Proposal(w.store.Begin(), w.proposalID(alias))
		if err != nil {
			return "error: " + err.Error()
		}
		return w.describe(alias, info)
	case "get":
		v, ok := w.store.Get(d.CmdArgs[0].Key, []byte(d.CmdArgs[1].Key))
		if !ok {
			return "absent"
		}
		if len(v) > 80 {
			return fmt.Sprintf("%d bytes", len(v))
		}
		return string(v)
	}
	t.Fatalf("unknown command %q", d.Cmd)
	return ""
}

func (w *world) propose(raw []byte, as string) string {
	return w.tx(func(tx *kv.Tx) (string, error) {
		r, err := gov.Verify(tx, raw, gov.TypeProposal, w.now)
		if err != nil {
			return "", err
		}
		id, info, err := gov.Propose(tx, r, fmt.Sprintf("2.%d", w.seq+1), w.secret)
		if err != nil {
			return "", err
		}
		if as == "" {
			as = "proposal"
		}
		w.props[as] = id
		return w.describe(as, info), nil
	})
}

func (w *world) vote(raw []byte, alias string) string {
	return w.tx(func(tx *kv.Tx) (string, error) {
		r, err := gov.Verify(tx, raw, gov.TypeBallot, w.now)
		if err != nil {
			return "", err
		}
		info, err := gov.Vote(tx, r, w.secret)
		if err != nil {
			return "", err
		}
		return w.describe(alias, info), nil
	})
}

// constitutions are replacements the scripts install.
var constitutions = map[string]string{
	// unanimity: the default's actions, but every active member must vote
	// for a proposal.
	"unanimity": strings.Replace(gov.DefaultConstitution,
		"if (2 * yes > active.length) {", "if (yes === active.length) {", 1),
	// broken: not JavaScript.
	"broken": "export function validate( {",
}
