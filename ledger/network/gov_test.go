package network_test

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/confide/confide/ledger/gov"
	"github.com/confide/confide/ledger/identity"
	"github.com/confide/confide/ledger/sandbox"
)

// TestGovernance drives governance over HTTPS on a 3-node network: a
// member proposes a user through a backup (forwarded), two of the three
// founding members vote it through, the user is admitted; replays,
// garbage and forged ballots are refused with nothing written.
func TestGovernance(t *testing.T) {
	tn := start(t, 3)
	svcPEM, _ := os.ReadFile(filepath.Join(tn.dir, sandbox.ServiceCert))
	base := func(id uint64) string { return "https://" + tn.config(id).RPCAddr }
	c := client(t, tn.dir, "member0", svcPEM)
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, out := do(t, c, "GET", base(1)+"/gov/service/info", "")
		if code == 200 && out["status"] == "Opening" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no governance after 10 s: %d %v", code, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, out := do(t, c, "GET", base(2)+"/gov/members", "")
	if ms, _ := out["value"].([]any); len(ms) != 3 {
		t.Fatalf("members: %v", out)
	}
	sign := func(member, typ, proposal string, body []byte) []byte {
		return signAs(t, tn.dir, member, typ, proposal, body)
	}
	post := func(node uint64, path string, body []byte) (int, map[string]any) {
		resp, err := c.Post(base(node)+path+"?wait=committed", "application/cose", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		json.Unmarshal(b, &m)
		return resp.StatusCode, m
	}
	memberID := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(tn.dir, name+"_cert.pem"))
		cert, _ := identity.ParseCert(b)
		return gov.MemberID(cert)
	}
	carol, err := identity.NewClient("carol")
	if err != nil {
		t.Fatal(err)
	}
	certJSON, _ := json.Marshal(string(carol.CertPEM()))
	proposal := []byte(fmt.Sprintf(`{"actions": [{"name": "set_user", "args": {"cert": %s, "role": "Contributor"}}]}`, certJSON))
	code, out := post(2, "/gov/members/proposals:create", sign("member0", gov.TypeProposal, "", proposal))
	if code != 200 || out["proposalState"] != "Open" {
		t.Fatalf("propose: %d %v", code, out)
	}
	id := out["proposalId"].(string)
	yes := []byte(`{"ballot": "export function vote(proposal, proposerId) { return true }"}`)
	ballot1 := sign("member1", gov.TypeBallot, id, yes)
	// A ballot at another member's path is refused.
	if code, out := post(3, "/gov/members/proposals/"+id+"/ballots/"+memberID("member2")+":submit", ballot1); code != 400 {
		t.Fatalf("ballot at another member's path: %d %v", code, out)
	}
	code, out = post(3, "/gov/members/proposals/"+id+"/ballots/"+memberID("member1")+":submit", ballot1)
	if code != 200 || out["proposalState"] != "Open" {
		t.Fatalf("ballot 1: %d %v", code, out)
	}
	// The same signed ballot again: a replay.
	if code, out := post(1, "/gov/members/proposals/"+id+"/ballots/"+memberID("member1")+":submit", ballot1); code != 401 {
		t.Fatalf("replayed ballot: %d %v", code, out)
	}
	// Garbage, and a ballot signed by a key that is not the member's.
	if code, _ := post(1, "/gov/members/proposals:create", []byte("not cose")); code != 400 {
		t.Fatalf("garbage: %d", code)
	}
	forged, err := gov.Sign(carol.Key, mustCert(t, tn.dir, "member2"), gov.TypeBallot, id, time.Now(), yes)
	if err != nil {
		t.Fatal(err)
	}
	if code, out := post(1, "/gov/members/proposals/"+id+"/ballots/"+memberID("member2")+":submit", forged); code != 401 {
		t.Fatalf("forged ballot: %d %v", code, out)
	}
	// carol is not a user yet.
	carolTLS := carolClient(t, tn.dir, carol, svcPEM)
	if code, _ := do(t, carolTLS, "GET", base(1)+"/app/collections", ""); code != 401 {
		t.Fatalf("carol before the vote: %d", code)
	}
	code, out = post(1, "/gov/members/proposals/"+id+"/ballots/"+memberID("member2")+":submit", sign("member2", gov.TypeBallot, id, yes))
	if code != 200 || out["proposalState"] != "Accepted" {
		t.Fatalf("ballot 2: %d %v", code, out)
	}
	for _, node := range []uint64{1, 2, 3} {
		deadline := time.Now().Add(5 * time.Second)
		for {
			code, _ := do(t, carolTLS, "GET", base(node)+"/app/collections", "")
			if code == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("carol on node %d after the vote: %d", node, code)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	_, out = do(t, c, "GET", base(3)+"/gov/members/proposals", "")
	if ps, _ := out["value"].([]any); len(ps) != 1 {
		t.Fatalf("proposals (the refused requests recorded nothing): %v", out)
	}
	_, out = do(t, c, "GET", base(3)+"/gov/members/proposals/"+id, "")
	if out["proposalState"] != "Accepted" || out["ballotCount"] != float64(2) {
		t.Fatalf("proposal: %v", out)
	}
}

func mustCert(t *testing.T, dir, name string) *x509.Certificate {
	b, err := os.ReadFile(filepath.Join(dir, name+"_cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := identity.ParseCert(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func carolClient(t *testing.T, dir string, id *identity.Identity, svc []byte) *http.Client {
	key, err := identity.EncodeKey(id.Key)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "carol_cert.pem"), id.CertPEM(), 0o600)
	os.WriteFile(filepath.Join(dir, "carol_privk.pem"), key, 0o600)
	return client(t, dir, "carol", svc)
}
