// Package network runs one ledger node as a service: its secrets sealed
// to its own enclave identity, the raft transport, the node loop, and
// the apps' HTTPS endpoints. `confide ledger node` runs it, and
// `confide ledger sandbox` starts several.
//
// A node gets its ledger secret and identities once, from a provisioning
// file its operator (the sandbox) wrote, seals them at once and deletes
// the file; after a restart (even kill -9) it unseals them and replays
// its ledger files. A node that cannot unseal them (another platform or
// identity) must join as a new node. Attested joining, in which a
// running node hands the secrets only to an attested, approved node and
// no operator ever holds them, is governance's part (issue 18).
package network

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/attest/atls"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/ledger/acl"
	"github.com/confide/confide/ledger/app"
	"github.com/confide/confide/ledger/entry"
	"github.com/confide/confide/ledger/eth"
	"github.com/confide/confide/ledger/eth/jsonrpc"
	"github.com/confide/confide/ledger/gov"
	"github.com/confide/confide/ledger/identity"
	"github.com/confide/confide/ledger/kv"
	"github.com/confide/confide/ledger/merkle"
	"github.com/confide/confide/ledger/node"
)

// Peer is another node's addresses.
type Peer struct {
	Raft string `json:"raft"`
	RPC  string `json:"rpc"`
}

// Config is a node's configuration (JSON, `confide ledger node --config`).
type Config struct {
	ID        uint64          `json:"id"`
	Dir       string          `json:"dir"`
	RaftAddr  string          `json:"raft_address"`
	RPCAddr   string          `json:"rpc_address"`
	Peers     map[uint64]Peer `json:"peers"`
	Bootstrap []uint64        `json:"bootstrap,omitempty"`
	// GenesisUsers are written by the first primary of a new network,
	// with GenesisMembers (governance's founding members, active at once)
	// and the recovery threshold.
	GenesisUsers      []GenesisUser   `json:"genesis_users,omitempty"`
	GenesisMembers    []GenesisMember `json:"genesis_members,omitempty"`
	RecoveryThreshold int             `json:"recovery_threshold,omitempty"`
	// AllowSimulated, at genesis: joining nodes may present simulated
	// evidence (a governance setting afterwards).
	AllowSimulated bool `json:"allow_simulated,omitempty"`
	// Join makes a node with an empty directory ask Target for
	// admission (attested join) instead of being provisioned.
	Join      *JoinConfig `json:"join,omitempty"`
	SignEvery int         `json:"sign_every,omitempty"`
	// SignIntervalMS is the longest time between signatures.
	SignIntervalMS int `json:"sign_interval_ms,omitempty"`
	// SnapshotEvery: the primary snapshots after this many transactions
	// (0: never).
	SnapshotEvery uint64 `json:"snapshot_every,omitempty"`
	// CompactKeep: entries raft keeps before the newest committed
	// snapshot (0: the node's default).
	CompactKeep uint64 `json:"compact_keep,omitempty"`
	// Eth, at genesis, starts the Ethereum app's chain (its
	// configuration and funded accounts).
	Eth *eth.Genesis `json:"eth,omitempty"`
	// EthBlockIntervalMS: an open Ethereum block with transactions
	// closes after this long (0: 20 ms).
	EthBlockIntervalMS int `json:"eth_block_interval_ms,omitempty"`
}

// GenesisUser is a user of a new network.
type GenesisUser struct {
	Cert string `json:"cert"`
	Role string `json:"role"`
}

// GenesisMember is a founding member: a certificate and, for a recovery
// member, an encryption public key (PEM).
type GenesisMember struct {
	Cert          string `json:"cert"`
	EncryptionKey string `json:"encryption_public_key,omitempty"`
}

// Provision is what a node receives once, before its first start.
type Provision struct {
	Secret []byte `json:"ledger_secret"`
	// Epochs, after a rekey, are all the ledger secrets (the first is
	// Secret, from seqno 1).
	Epochs      []entry.Epoch `json:"ledger_secrets,omitempty"`
	ServiceCert string        `json:"service_cert"`
	// ServiceKey is the service identity's key (PEM), with which the
	// primary endorses joining nodes.
	ServiceKey string `json:"service_key,omitempty"`
	// Endorsements, after a disaster recovery, chain the service to the
	// previous service identities (PEM, newest first).
	Endorsements []string `json:"service_endorsements,omitempty"`
	NodeCert     string   `json:"node_cert"`
	NodeKey      string   `json:"node_key"`
}

// File names in a node's directory.
const (
	ProvisionFile = "provision.json"
	SealedFile    = "sealed_secrets"
)

// Enclave is what a node uses of its TEE.
type Enclave struct {
	// Sealer seals the node's secrets to its identity.
	Sealer Sealer
	// Platform and Verifier, when both set, make node-to-node TLS
	// attested: peers must run the code this node runs
	// (node.SameCodePolicy). Without them, peers are authenticated by
	// their service-endorsed node certificates only.
	Platform enclave.Platform
	Verifier *attest.Verifier
}

// Sealer seals to the node's enclave identity (seal.Sealer).
type Sealer interface {
	Seal(ctx context.Context, policy enclave.SealPolicy, plaintext, aad []byte) ([]byte, error)
	Unseal(ctx context.Context, blob, aad []byte) ([]byte, error)
}

var sealAAD = []byte("confide ledger node secrets v1")

// ErrCannotUnseal: the node's sealed secrets are not for this enclave.
var ErrCannotUnseal = errors.New("network: this node cannot unseal its secrets (another platform or enclave identity); it must join as a new node")

// reseal seals the node's secrets again (after a rekey).
func reseal(ctx context.Context, dir string, s Sealer, p *Provision) error {
	plain, err := json.Marshal(p)
	if err != nil {
		return err
	}
	blob, err := s.Seal(ctx, enclave.SealUnique, plain, sealAAD)
	if err != nil {
		return err
	}
	sealedPath := filepath.Join(dir, SealedFile)
	tmp := sealedPath + ".tmp"
	if err := os.WriteFile(tmp, blob, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, sealedPath)
}

// secrets unseals the node's secrets, or seals them from the
// provisioning file on first start.
func secrets(ctx context.Context, dir string, s Sealer) (*Provision, error) {
	var p Provision
	sealedPath := filepath.Join(dir, SealedFile)
	blob, err := os.ReadFile(sealedPath)
	switch {
	case err == nil:
		plain, err := s.Unseal(ctx, blob, sealAAD)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCannotUnseal, err)
		}
		return &p, json.Unmarshal(plain, &p)
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	provPath := filepath.Join(dir, ProvisionFile)
	plain, err := os.ReadFile(provPath)
	if err != nil {
		return nil, fmt.Errorf("network: %s holds neither sealed secrets nor a provisioning file: %w", dir, err)
	}
	if err := json.Unmarshal(plain, &p); err != nil {
		return nil, fmt.Errorf("network: %s: %w", ProvisionFile, err)
	}
	if blob, err = s.Seal(ctx, enclave.SealUnique, plain, sealAAD); err != nil {
		return nil, err
	}
	tmp := sealedPath + ".tmp"
	if err := os.WriteFile(tmp, blob, 0o600); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, sealedPath); err != nil {
		return nil, err
	}
	return &p, os.Remove(provPath)
}

// Running is a started node.
type Running struct {
	Node     *node.Node
	RPCAddr  string
	RaftAddr string
	// Attested says whether node-to-node TLS is attested.
	Attested  bool
	transport *node.Transport
	http      *http.Server
	cancel    context.CancelFunc
	done      chan struct{}
}

// Start starts a node; it runs until Stop or until ctx ends.
func Start(ctx context.Context, cfg Config, env Enclave, log *slog.Logger) (*Running, error) {
	link := &node.Link{}
	if env.Platform != nil && env.Verifier != nil {
		id, err := env.Platform.Identity(ctx)
		if err != nil {
			return nil, err
		}
		pol, err := node.SameCodePolicy(id)
		if err != nil {
			return nil, err
		}
		link.ATLS = &atls.Config{Attester: env.Platform, Verifier: env.Verifier, Policy: pol}
	}
	if cfg.Join != nil {
		id, ps, ok := joined(cfg.Dir)
		if !ok && !exists(filepath.Join(cfg.Dir, SealedFile)) && !exists(filepath.Join(cfg.Dir, ProvisionFile)) {
			var err error
			if id, ps, err = join(ctx, cfg, env); err != nil {
				return nil, err
			}
			ok = true
		}
		if ok {
			cfg.ID = id
			merged := map[uint64]Peer{}
			for k, v := range cfg.Peers {
				merged[k] = v
			}
			for k, v := range ps {
				merged[k] = v
			}
			cfg.Peers = merged
		}
	}
	p, err := secrets(ctx, cfg.Dir, env.Sealer)
	if err != nil {
		return nil, err
	}
	secret, err := entry.NewSecret(p.Secret)
	if len(p.Epochs) > 0 {
		secret, err = entry.NewKeyring(p.Epochs)
	}
	if err != nil {
		return nil, err
	}
	// A rekey's secret is sealed with the others before anything uses
	// it, so that the node restarts (from a snapshot too) with all.
	var sealMu sync.Mutex
	onSecret := func(entry.Epoch) {
		sealMu.Lock()
		defer sealMu.Unlock()
		p.Epochs = secret.Epochs()
		if err := reseal(ctx, cfg.Dir, env.Sealer, p); err != nil {
			log.Error("sealing a rekey's secret", "err", err)
		}
	}
	keyring := func() []byte {
		b, _ := json.Marshal(secret.Epochs())
		return b
	}
	service, err := identity.ParseCert([]byte(p.ServiceCert))
	if err != nil {
		return nil, err
	}
	nodeCert, err := identity.ParseCert([]byte(p.NodeCert))
	if err != nil {
		return nil, err
	}
	nodeKey, err := identity.ParseKey([]byte(p.NodeKey))
	if err != nil {
		return nil, err
	}
	self := &identity.Identity{Key: nodeKey, Cert: nodeCert}
	var endorsements []*x509.Certificate
	for _, e := range p.Endorsements {
		c, err := identity.ParseCert([]byte(e))
		if err != nil {
			return nil, fmt.Errorf("network: a service endorsement: %w", err)
		}
		endorsements = append(endorsements, c)
	}
	var serviceID *identity.Identity
	if p.ServiceKey != "" {
		k, err := identity.ParseKey([]byte(p.ServiceKey))
		if err != nil {
			return nil, fmt.Errorf("network: the service key: %w", err)
		}
		serviceID = &identity.Identity{Key: k, Cert: service}
	}
	link.Self, link.Service = self, service
	core, err := node.Open(node.Config{
		ID: cfg.ID, Dir: cfg.Dir, Secret: secret, OnSecret: onSecret, Endorsements: endorsements, Node: self, Service: service, Bootstrap: cfg.Bootstrap,
		SignEvery: cfg.SignEvery, SignInterval: time.Duration(cfg.SignIntervalMS) * time.Millisecond, SnapshotEvery: cfg.SnapshotEvery, CompactKeep: cfg.CompactKeep,
	})
	if err != nil {
		return nil, err
	}
	r := &Running{done: make(chan struct{})}
	var n *node.Node
	ready := make(chan struct{})
	tr, err := node.Listen(cfg.RaftAddr, link, func(m pb.Message) {
		<-ready
		n.Receive(m)
	})
	if err != nil {
		core.Close()
		return nil, err
	}
	tr.SnapshotSent = func(to uint64, ok bool) {
		<-ready
		n.SnapshotSent(to, ok)
	}
	for id, peer := range cfg.Peers {
		if id != cfg.ID {
			tr.SetPeer(id, peer.Raft)
		}
	}
	n = node.Start(core, tr)
	close(ready)
	r.Node, r.transport, r.RaftAddr, r.Attested = n, tr, tr.Addr(), link.Attested()

	rpcAddr := func(id uint64) string { return rpcAddress(cfg, n.Store(), id) }
	hist := &historian{n: n, log: log, fetching: map[uint64]bool{},
		client: &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: node.TLSConfig(self, service)}},
		peers: func() []string {
			var out []string
			for id, p := range cfg.Peers {
				if id != cfg.ID {
					out = append(out, p.RPC)
				}
			}
			return out
		}}
	n.SetHistorian(hist.want)
	ja := &joinApp{cfg: cfg, prov: p, service: serviceID, verifier: env.Verifier, transport: tr}
	ethApp := jsonrpc.New(jsonrpc.Options{Node: n, TLS: node.TLSConfig(self, service), Addr: rpcAddr,
		BlockInterval: time.Duration(cfg.EthBlockIntervalMS) * time.Millisecond, Log: log})
	srv := app.NewServer(n, self, service, rpcAddr, log, acl.App{}, gov.App{Keyring: keyring}, ja, ethApp)
	ln, err := net.Listen("tcp", cfg.RPCAddr)
	if err != nil {
		tr.Close()
		n.Stop()
		return nil, err
	}
	r.RPCAddr = ln.Addr().String()
	r.http = &http.Server{Handler: srv, TLSConfig: srv.TLSConfig(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go r.http.ServeTLS(ln, "", "")

	ctx, r.cancel = context.WithCancel(ctx)
	go func() {
		defer close(r.done)
		go watchPeers(ctx, cfg, n, tr)
		go watchRekeys(ctx, n, keyring, log)
		go recordRecovery(ctx, n, cfg.Dir, log)
		go ethApp.Run(ctx)
		genesis(ctx, n, cfg, keyring(), env, log)
		<-ctx.Done()
	}()
	return r, nil
}

// genesis writes the first users once this node is primary of a network
// that has none. Two primaries in turn may both write them before the
// first commits; the records are the same.
func genesis(ctx context.Context, n *node.Node, cfg Config, secret []byte, env Enclave, log *slog.Logger) {
	users := cfg.GenesisUsers
	if len(users) == 0 && len(cfg.GenesisMembers) == 0 && cfg.Eth == nil {
		return
	}
	recs := make(map[string][]byte)
	for _, u := range users {
		c, err := identity.ParseCert([]byte(u.Cert))
		if err != nil {
			log.Error("genesis user", "err", err)
			return
		}
		b, _ := json.Marshal(app.User{ID: app.UserID(c), Role: u.Role, Cert: u.Cert})
		recs[app.UserID(c)] = b
	}
	g := gov.Genesis{RecoveryThreshold: cfg.RecoveryThreshold, Secret: secret, AllowSimulated: cfg.AllowSimulated}
	if env.Platform != nil {
		// The founding nodes' code may join (CCF's genesis does the same).
		if id, err := env.Platform.Identity(ctx); err == nil {
			g.CodeIDs = append(g.CodeIDs, hex.EncodeToString(id.UniqueID))
		}
	}
	for _, m := range cfg.GenesisMembers {
		c, err := identity.ParseCert([]byte(m.Cert))
		if err != nil {
			log.Error("genesis member", "err", err)
			return
		}
		gm := gov.GenesisMember{Cert: c}
		if m.EncryptionKey != "" {
			gm.EncryptionKey = []byte(m.EncryptionKey)
		}
		g.Members = append(g.Members, gm)
	}
	for ctx.Err() == nil {
		if n.Store().Len(app.MapUsers) > 0 || n.Store().Len(gov.MapConstitution) > 0 {
			return
		}
		var primary bool
		n.With(func(c *node.Core) { primary = c.IsPrimary() })
		if primary {
			_, err := n.Execute(ctx, func(tx *kv.Tx, tid entry.TxID) (*merkle.Hash, error) {
				for id, b := range recs {
					tx.Put(app.MapUsers, []byte(id), b)
				}
				if cfg.Eth != nil {
					if err := eth.WriteGenesis(tx, *cfg.Eth, tid.Seqno); err != nil {
						return nil, err
					}
				}
				if len(g.Members) > 0 {
					return nil, gov.WriteGenesis(tx, g)
				}
				return nil, nil
			})
			if err == nil {
				return
			}
			log.Warn("genesis", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Wait blocks until the node stops and returns why.
func (r *Running) Wait() error {
	<-r.done
	return r.Node.Err()
}

// Stop stops the node: HTTP, transport, loop, files.
func (r *Running) Stop() error {
	r.cancel()
	<-r.done
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r.http.Shutdown(sctx)
	r.transport.Close()
	return r.Node.Stop()
}

// ServiceCert reads the service certificate from a provisioning.
func (p *Provision) ServiceCertificate() (*x509.Certificate, error) {
	return identity.ParseCert([]byte(p.ServiceCert))
}
