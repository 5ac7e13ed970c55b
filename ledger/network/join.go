package network

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/attest/atls"
	"github.com/confide/confide/ledger/app"
	"github.com/confide/confide/ledger/entry"
	"github.com/confide/confide/ledger/gov"
	"github.com/confide/confide/ledger/identity"
	"github.com/confide/confide/ledger/kv"
	"github.com/confide/confide/ledger/merkle"
	"github.com/confide/confide/ledger/node"
)

// Attested join (spec/ledger-governance.md §6): a new node, with an empty
// directory and no provisioning, connects to the primary over TLS with an
// attested certificate (its key and evidence binding it); the primary
// admits it only if the evidence verifies and names code that governance
// allows (public:confide.gov.nodes.code_ids; simulated evidence only if
// the service configuration allows it). Before the service opens, an
// admitted node is trusted at once: it is recorded, added as a raft
// voter, and answered — over that TLS session, which only the attested
// key can have opened — with its service-endorsed certificate and the
// service's secrets. After, it is recorded Pending and answered so until a
// proposal trusts it.

// JoinConfig is a joining node's: a node of the network to ask, and the
// service certificate that node's certificate must chain to.
type JoinConfig struct {
	Target      string `json:"target"`
	ServiceCert string `json:"service_cert"`
}

// JoinRequest is what a joining node sends.
type JoinRequest struct {
	RaftAddress string `json:"raft_address"`
	RPCAddress  string `json:"rpc_address"`
}

// JoinResponse is the primary's answer: for a trusted node, its raft ID,
// the peers, and its provisioning.
type JoinResponse struct {
	Status    string          `json:"status"`
	NodeID    string          `json:"node_id"`
	RaftID    uint64          `json:"raft_id,omitempty"`
	Peers     map[uint64]Peer `json:"peers,omitempty"`
	Provision *Provision      `json:"provision,omitempty"`
}

// NodeRecord is a public:confide.gov.nodes.info record.
type NodeRecord struct {
	Status      string `json:"status"` // Pending, Trusted, Retired
	RaftID      uint64 `json:"raft_id"`
	RaftAddress string `json:"raft_address"`
	RPCAddress  string `json:"rpc_address"`
	CodeID      string `json:"code_id"`
	Platform    string `json:"platform"`
}

// joinApp serves POST /node/join on every node; it admits on the primary.
type joinApp struct {
	cfg       Config
	prov      *Provision
	service   *identity.Identity // with the service key
	verifier  *attest.Verifier
	transport *node.Transport
}

func (j *joinApp) Maps() []string { return []string{gov.MapNodeInfo} }

func (j *joinApp) Endpoints() []app.Endpoint {
	// Read-only as far as the framework goes: a backup must not forward
	// it, since the joining node's attested key is the TLS session's here
	// and nowhere else. The handler writes through the node itself.
	return []app.Endpoint{{Pattern: "POST /node/join", Mode: app.ReadOnly, Unauthenticated: true, Handler: j.join}}
}

// ErrJoinRefused is a joining node's refusal.
var ErrJoinRefused = errors.New("network: join refused")

func (j *joinApp) join(r *app.Request) (any, error) {
	n := r.Node
	var primary bool
	var lead uint64
	n.With(func(c *node.Core) { primary, lead = c.IsPrimary(), c.Primary() })
	if !primary {
		return nil, &app.Error{Status: http.StatusServiceUnavailable, Code: "NotPrimary", RetryAfter: 1,
			Message: "join at the primary: " + rpcAddress(j.cfg, n.Store(), lead)}
	}
	if j.service == nil || j.verifier == nil {
		return nil, app.Errorf(http.StatusForbidden, "JoinRefused", "this network admits no joining nodes (no attestation, or no service key)")
	}
	if r.HTTP.TLS == nil || len(r.HTTP.TLS.PeerCertificates) != 1 {
		return nil, app.Errorf(http.StatusUnauthorized, "JoinRefused", "a joining node presents one attested certificate")
	}
	pol, err := joinPolicy(n.Store())
	if err != nil {
		return nil, app.Errorf(http.StatusForbidden, "JoinRefused", "%v", err)
	}
	leaf := r.HTTP.TLS.PeerCertificates[0]
	claims, err := (&atls.Config{Verifier: j.verifier, Policy: pol}).VerifyCertificate(r.HTTP.Context(), [][]byte{leaf.Raw})
	if err != nil {
		return nil, app.Errorf(http.StatusForbidden, "JoinRefused", "the node's evidence is not admitted: %v", err)
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return nil, app.Errorf(http.StatusBadRequest, "JoinRefused", "a node key is ECDSA")
	}
	var req JoinRequest
	if err := json.Unmarshal(r.Body, &req); err != nil || req.RaftAddress == "" || req.RPCAddress == "" {
		return nil, app.Errorf(http.StatusBadRequest, "InvalidRequest", "a join request is {\"raft_address\", \"rpc_address\"}")
	}
	host, _, err := net.SplitHostPort(req.RPCAddress)
	if err != nil {
		return nil, app.Errorf(http.StatusBadRequest, "InvalidRequest", "rpc_address is host:port")
	}
	nodeID := identity.NodeIDOfKey(pub)
	store := n.Store()
	var rec NodeRecord
	if b, ok := store.Get(gov.MapNodeInfo, []byte(nodeID)); ok {
		json.Unmarshal(b, &rec)
		if rec.Status == "Retired" {
			return nil, app.Errorf(http.StatusForbidden, "JoinRefused", "node %s is retired", nodeID)
		}
	} else {
		rec = NodeRecord{Status: "Trusted", RaftID: nextRaftID(j.cfg, store), RaftAddress: req.RaftAddress, RPCAddress: req.RPCAddress,
			CodeID: hex.EncodeToString(claims.UniqueID), Platform: claims.Platform}
		var svc struct {
			Status string `json:"status"`
		}
		if b, ok := store.Get(gov.MapService, []byte("service")); ok {
			json.Unmarshal(b, &svc)
		}
		if svc.Status == "Open" {
			rec.Status = "Pending" // until a proposal trusts it
		}
		id, err := n.Execute(r.HTTP.Context(), func(tx *kv.Tx, _ entry.TxID) (*merkle.Hash, error) {
			b, _ := json.Marshal(rec)
			tx.Put(gov.MapNodeInfo, []byte(nodeID), b)
			return nil, nil
		})
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(r.HTTP.Context(), 10*time.Second)
		defer cancel()
		if st, err := n.Wait(ctx, id); err != nil || st != node.Committed {
			return nil, &app.Error{Status: http.StatusServiceUnavailable, Code: "JoinPending", RetryAfter: 1, Message: "the node's record did not commit; retry"}
		}
	}
	resp := JoinResponse{Status: rec.Status, NodeID: nodeID}
	if rec.Status != "Trusted" {
		return resp, nil
	}
	j.transport.SetPeer(rec.RaftID, rec.RaftAddress)
	var voterErr error
	n.With(func(c *node.Core) {
		if !slices.Contains(c.Voters(), rec.RaftID) {
			voterErr = c.ChangeVoters(rec.RaftID, true)
		}
	})
	if voterErr != nil {
		return nil, &app.Error{Status: http.StatusServiceUnavailable, Code: "JoinPending", RetryAfter: 1, Message: fmt.Sprintf("adding the node to the configuration: %v", voterErr)}
	}
	endorsed, err := identity.Endorse(j.service, pub, nil, host)
	if err != nil {
		return nil, err
	}
	resp.RaftID = rec.RaftID
	resp.Peers = peers(j.cfg, store)
	var epochs []entry.Epoch
	n.With(func(c *node.Core) { epochs = c.Secret().Epochs() })
	resp.Provision = &Provision{Secret: epochs[0].Secret, ServiceCert: j.prov.ServiceCert, ServiceKey: j.prov.ServiceKey, NodeCert: string(endorsed.CertPEM())}
	if len(epochs) > 1 {
		resp.Provision.Epochs = epochs
	}
	return resp, nil
}

// joinPolicy is the attestation policy the governance tables make: one
// of the allowed unique IDs; simulated evidence only if allowed.
func joinPolicy(store *kv.Store) (*attest.Policy, error) {
	var ids []string
	store.Range(gov.MapCodeIDs, func(k, _ []byte) bool {
		ids = append(ids, fmt.Sprintf(`{"claim":"unique_id","equals":%q}`, strings.ToLower(string(k))))
		return true
	})
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: governance allows no node code", ErrJoinRefused)
	}
	var cfg struct {
		AllowSimulated bool `json:"allow_simulated"`
	}
	if b, ok := store.Get(gov.MapConfig, []byte("config")); ok {
		json.Unmarshal(b, &cfg)
	}
	platform := `{"claim":"debug","equals":false}`
	if cfg.AllowSimulated {
		platform = `{"anyOf":[{"claim":"platform","equals":"sim"},{"claim":"debug","equals":false}]}`
	}
	return attest.ParsePolicy([]byte(`{"version":"1.0.0","allOf":[{"anyOf":[` + strings.Join(ids, ",") + `]},` + platform + `]}`))
}

// nextRaftID is one more than any raft ID the network knows.
func nextRaftID(cfg Config, store *kv.Store) uint64 {
	top := cfg.ID
	for id := range cfg.Peers {
		top = max(top, id)
	}
	store.Range(gov.MapNodeInfo, func(_, v []byte) bool {
		var rec NodeRecord
		if json.Unmarshal(v, &rec) == nil {
			top = max(top, rec.RaftID)
		}
		return true
	})
	return top + 1
}

// peers is every node's addresses: the configured ones and the joined.
func peers(cfg Config, store *kv.Store) map[uint64]Peer {
	out := map[uint64]Peer{}
	for id, p := range cfg.Peers {
		out[id] = p
	}
	store.Range(gov.MapNodeInfo, func(_, v []byte) bool {
		var rec NodeRecord
		if json.Unmarshal(v, &rec) == nil && rec.Status == "Trusted" {
			out[rec.RaftID] = Peer{Raft: rec.RaftAddress, RPC: rec.RPCAddress}
		}
		return true
	})
	return out
}

// rpcAddress is a node's RPC address, configured or joined.
func rpcAddress(cfg Config, store *kv.Store, id uint64) string {
	return peers(cfg, store)[id].RPC
}

// watchPeers keeps the transport told of joined nodes' raft addresses,
// and on the primary takes retired nodes (remove_node) out of raft's
// configuration.
func watchPeers(ctx context.Context, cfg Config, n *node.Node, tr *node.Transport) {
	store := n.Store()
	known := map[uint64]string{}
	for ctx.Err() == nil {
		for id, p := range peers(cfg, store) {
			if id != cfg.ID && known[id] != p.Raft {
				tr.SetPeer(id, p.Raft)
				known[id] = p.Raft
			}
		}
		var retired []uint64
		store.Range(gov.MapNodeInfo, func(_, v []byte) bool {
			var rec NodeRecord
			if json.Unmarshal(v, &rec) == nil && rec.Status == "Retired" && rec.RaftID != 0 {
				retired = append(retired, rec.RaftID)
			}
			return true
		})
		if len(retired) > 0 {
			n.With(func(c *node.Core) {
				if !c.IsPrimary() {
					return
				}
				voters := c.Voters()
				for _, id := range retired {
					// One change at a time; the next round takes the next.
					if slices.Contains(voters, id) && id != cfg.ID && len(voters) > 1 {
						c.ChangeVoters(id, false)
						return
					}
				}
			})
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// joinFile records a joined node's raft ID and peers, for its restarts.
const joinFile = "joined.json"

// join asks the network for admission and writes the provisioning file
// from the answer; it returns the node's raft ID and peers.
func join(ctx context.Context, cfg Config, env Enclave) (uint64, map[uint64]Peer, error) {
	if env.Platform == nil {
		return 0, nil, fmt.Errorf("%w: joining needs an attesting platform", ErrJoinRefused)
	}
	cert, err := atls.NewCertificate(ctx, env.Platform, nil, time.Now(), time.Hour)
	if err != nil {
		return 0, nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(cfg.Join.ServiceCert)) {
		return 0, nil, fmt.Errorf("network: the join configuration's service certificate is not PEM")
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{*cert}}}}
	body, _ := json.Marshal(JoinRequest{RaftAddress: cfg.RaftAddr, RPCAddress: cfg.RPCAddr})
	target := cfg.Join.Target
	for attempt := 0; ; attempt++ {
		resp, err := client.Post("https://"+target+"/node/join", "application/json", bytes.NewReader(body))
		if err != nil {
			if attempt >= 50 || ctx.Err() != nil {
				return 0, nil, err
			}
			time.Sleep(200 * time.Millisecond)
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable && attempt < 50 {
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			json.Unmarshal(b, &e)
			if addr, ok := strings.CutPrefix(e.Error.Message, "join at the primary: "); ok && addr != "" {
				target = addr
			}
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return 0, nil, fmt.Errorf("%w: %s: %s", ErrJoinRefused, resp.Status, strings.TrimSpace(string(b)))
		}
		var jr JoinResponse
		if err := json.Unmarshal(b, &jr); err != nil {
			return 0, nil, err
		}
		if jr.Status != "Trusted" || jr.Provision == nil {
			if attempt >= 600 {
				return 0, nil, fmt.Errorf("%w: the node is %s", ErrJoinRefused, jr.Status)
			}
			time.Sleep(time.Second) // Pending: until a proposal trusts it
			continue
		}
		key, err := identity.EncodeKey(cert.PrivateKey.(*ecdsa.PrivateKey))
		if err != nil {
			return 0, nil, err
		}
		p := *jr.Provision
		p.NodeKey = string(key)
		pb, _ := json.Marshal(p)
		if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
			return 0, nil, err
		}
		if err := os.WriteFile(filepath.Join(cfg.Dir, ProvisionFile), pb, 0o600); err != nil {
			return 0, nil, err
		}
		jb, _ := json.Marshal(struct {
			RaftID uint64          `json:"raft_id"`
			Peers  map[uint64]Peer `json:"peers"`
		}{jr.RaftID, jr.Peers})
		if err := os.WriteFile(filepath.Join(cfg.Dir, joinFile), jb, 0o600); err != nil {
			return 0, nil, err
		}
		return jr.RaftID, jr.Peers, nil
	}
}

// joined reads what an earlier join recorded.
func joined(dir string) (uint64, map[uint64]Peer, bool) {
	b, err := os.ReadFile(filepath.Join(dir, joinFile))
	if err != nil {
		return 0, nil, false
	}
	var j struct {
		RaftID uint64          `json:"raft_id"`
		Peers  map[uint64]Peer `json:"peers"`
	}
	if json.Unmarshal(b, &j) != nil || j.RaftID == 0 {
		return 0, nil, false
	}
	return j.RaftID, j.Peers, true
}

// watchRekeys carries out governance's rekey requests on the primary: a
// rekey transaction (the new secret, sealed under the current one), then
// new recovery material wrapping every secret, once per request.
func watchRekeys(ctx context.Context, n *node.Node, keyring func() []byte, log interface{ Error(string, ...any) }) {
	for ctx.Err() == nil {
		req, ok := n.Store().Get(gov.MapRequests, []byte("rekey"))
		done, _ := n.Store().Get(gov.MapRequests, []byte("rekey_done"))
		if ok && string(req) != string(done) {
			var primary bool
			n.With(func(c *node.Core) { primary = c.IsPrimary() })
			if primary {
				secret := make([]byte, 32)
				if _, err := rand.Read(secret); err != nil {
					log.Error("rekey", "err", err)
					return
				}
				var err error
				n.With(func(c *node.Core) { _, err = c.Rekey(secret) })
				clear(secret)
				if err == nil {
					// The recovery material wraps every secret; the request
					// is marked served in the same transaction.
					_, err = n.Execute(ctx, func(tx *kv.Tx, _ entry.TxID) (*merkle.Hash, error) {
						tx.Put(gov.MapRequests, []byte("rekey_done"), req)
						return nil, gov.Reshare(tx, keyring())
					})
				}
				if err != nil {
					log.Error("rekey", "err", err)
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// RecoveryRecordFile, in a recovered network's node directory, holds the
// recovery's record (package recovery) until the ledger holds it.
const RecoveryRecordFile = "recovery_record.json"

// MapRecoveryHistory: hex SHA-256 of a previous service certificate (DER)
// → RecoveryRecord, one per recovery.
const MapRecoveryHistory = "public:confide.gov.recovery.history"

// RecoveryRecord is how a recovered service came to be: the previous
// service identity, the members' signed requests that opened it (base64),
// and the transactions the old files proved.
type RecoveryRecord struct {
	PreviousService string   `json:"previous_service"`
	Requests        []string `json:"requests"`
	Transactions    uint64   `json:"transactions"`
}

// recordRecovery writes a recovered network's record into its ledger as
// its first transaction, with the service Open (the members voted), and
// removes the file once the ledger holds it.
func recordRecovery(ctx context.Context, n *node.Node, dir string, log interface{ Error(string, ...any) }) {
	path := filepath.Join(dir, RecoveryRecordFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	var rec RecoveryRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		log.Error("recovery record", "err", err)
		return
	}
	prev, err := identity.ParseCert([]byte(rec.PreviousService))
	if err != nil {
		log.Error("recovery record", "err", err)
		return
	}
	sum := sha256.Sum256(prev.Raw)
	key := []byte(hex.EncodeToString(sum[:]))
	for ctx.Err() == nil {
		if _, ok := n.Store().Get(MapRecoveryHistory, key); ok {
			// Recorded (another node keeps its file until it sees the
			// record too, and writes it if it becomes primary first).
			os.Remove(path)
			return
		}
		var primary bool
		n.With(func(c *node.Core) { primary = c.IsPrimary() })
		if primary {
			_, err := n.Execute(ctx, func(tx *kv.Tx, _ entry.TxID) (*merkle.Hash, error) {
				tx.Put(MapRecoveryHistory, key, b)
				svc, _ := json.Marshal(map[string]string{"status": "Open"})
				tx.Put(gov.MapService, []byte("service"), svc)
				return nil, nil
			})
			if err != nil {
				log.Error("recovery record", "err", err)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}
