// Package sandbox starts a ledger network on loopback for development
// and tests, as CCF's sandbox does: it makes the service identity, the
// ledger secret, member0 and user0, starts one process per node
// (`confide ledger node`), restarts a node that dies, and keeps
// nodes.json current. The sandbox's process holds the ledger secret while
// it provisions the nodes: a development convenience that attested
// joining (issue 18) removes.
package sandbox

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"

	"github.com/confide/confide/internal/freeport"
	"github.com/confide/confide/ledger/eth"
	"github.com/confide/confide/ledger/identity"
	"github.com/confide/confide/ledger/network"
)

// NodeInfo is a nodes.json record.
type NodeInfo struct {
	NodeID     string `json:"node_id"`
	RaftID     uint64 `json:"raft_id"`
	RPCAddress string `json:"rpc_address"`
	PID        int    `json:"pid"`
}

// Files the sandbox writes in its directory.
const (
	ServiceCert = "service_cert.pem"
	NodesFile   = "nodes.json"
)

// Options configure a sandbox.
type Options struct {
	Nodes int
	Dir   string
	// Command runs a node: argv for the node's config file.
	Command func(config string) []string
	// SignIntervalMS and SignEvery pass to the nodes (0: defaults).
	SignIntervalMS, SignEvery int
	// SnapshotEvery passes to the nodes (0: DefaultSnapshotEvery).
	SnapshotEvery uint64
	// CompactKeep passes to the nodes (0: the node's default).
	CompactKeep uint64
	// Spares are nodes provisioned beyond Nodes, not in the initial
	// configuration: they wait to be added (their configurations are
	// written; Start does not run them).
	Spares int
	// Members is the number of founding members, member0 … (0: 3),
	// each with an encryption key pair (recovery members);
	// RecoveryThreshold is the shares recovery needs (0: 1).
	Members, RecoveryThreshold int
	// Eth starts the Ethereum app's chain with funded development
	// accounts (written to EthAccountsFile).
	Eth *EthOptions
	// Restart restarts nodes that exit (default on in Run).
	NoRestart bool
	Log       io.Writer
}

// EthOptions configure a sandbox's Ethereum chain.
type EthOptions struct {
	// Private selects the private mode (default public, as geth --dev).
	Private bool
	// Accounts is the number of funded development accounts (0: 4).
	Accounts int
	// BlockIntervalMS passes to the nodes (0: their default).
	BlockIntervalMS int
}

// EthAccountsFile lists the development accounts: [{"address",
// "private_key"}], hex with 0x.
const EthAccountsFile = "eth_accounts.json"

// EthAccount is a development account.
type EthAccount struct {
	Address    string `json:"address"`
	PrivateKey string `json:"private_key"`
	// User is the sandbox user the address is linked to, if any.
	User string `json:"user,omitempty"`
}

// DefaultSnapshotEvery is how often a sandbox's primary snapshots.
const DefaultSnapshotEvery = 10000

// Sandbox is a running network.
type Sandbox struct {
	opts  Options
	mu    sync.Mutex
	nodes []*proc
}

type proc struct {
	id     uint64
	nodeID string
	config string
	rpc    string
	cmd    *exec.Cmd
	exited chan struct{}
}

// Prepare makes the identities and node configurations in opts.Dir, or
// reuses them if the directory already holds a network (a sandbox
// restarted over its own directory: the nodes unseal and replay).
func Prepare(opts Options) error {
	if opts.Nodes < 1 {
		return errors.New("sandbox: at least one node")
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(opts.Dir, ServiceCert)); err == nil {
		return nil
	}
	svc, err := identity.NewService(filepath.Base(opts.Dir))
	if err != nil {
		return err
	}
	svcKey, err := identity.EncodeKey(svc.Key)
	if err != nil {
		return err
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(opts.Dir, ServiceCert), svc.CertPEM(), 0o644); err != nil {
		return err
	}
	var genesis []network.GenesisUser
	for _, c := range []struct{ name, role string }{{"member0", "Administrator"}, {"user0", "Contributor"}, {"user1", "Reader"}} {
		id, err := identity.NewClient(c.name)
		if err != nil {
			return err
		}
		if err := writeIdentity(opts.Dir, c.name, id); err != nil {
			return err
		}
		genesis = append(genesis, network.GenesisUser{Cert: string(id.CertPEM()), Role: c.role})
	}
	// Founding members: member0 (also the Administrator user above) and
	// the others, each with a certificate and an RSA encryption key pair.
	var members []network.GenesisMember
	for i := range cmp.Or(opts.Members, 3) {
		name := fmt.Sprintf("member%d", i)
		certPEM, err := os.ReadFile(filepath.Join(opts.Dir, name+"_cert.pem"))
		if err != nil {
			id, err := identity.NewClient(name)
			if err != nil {
				return err
			}
			if err := writeIdentity(opts.Dir, name, id); err != nil {
				return err
			}
			certPEM = id.CertPEM()
		}
		pub, err := writeEncryptionKey(opts.Dir, name)
		if err != nil {
			return err
		}
		members = append(members, network.GenesisMember{Cert: string(certPEM), EncryptionKey: string(pub)})
	}
	var ethGenesis *eth.Genesis
	if opts.Eth != nil {
		if ethGenesis, err = ethAccounts(opts.Dir, *opts.Eth); err != nil {
			return err
		}
	}
	peers := map[uint64]network.Peer{}
	var ids []uint64
	for i := 1; i <= opts.Nodes+opts.Spares; i++ {
		raftAddr, err := freeport.Addr()
		if err != nil {
			return err
		}
		rpcAddr, err := freeport.Addr()
		if err != nil {
			return err
		}
		peers[uint64(i)] = network.Peer{Raft: raftAddr, RPC: rpcAddr}
		ids = append(ids, uint64(i))
	}
	for _, id := range ids {
		bootstrap := ids[:opts.Nodes]
		if id > uint64(opts.Nodes) {
			bootstrap = nil
		}
		dir := filepath.Join(opts.Dir, "nodes", strconv.FormatUint(id, 10))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		nid, err := identity.NewNode(svc, "127.0.0.1", "::1", "localhost")
		if err != nil {
			return err
		}
		key, err := identity.EncodeKey(nid.Key)
		if err != nil {
			return err
		}
		prov, _ := json.Marshal(network.Provision{Secret: secret, ServiceCert: string(svc.CertPEM()), ServiceKey: string(svcKey),
			NodeCert: string(nid.CertPEM()), NodeKey: string(key)})
		if err := os.WriteFile(filepath.Join(dir, network.ProvisionFile), prov, 0o600); err != nil {
			return err
		}
		cfg := network.Config{ID: id, Dir: dir, RaftAddr: peers[id].Raft, RPCAddr: peers[id].RPC, Peers: peers,
			Bootstrap: bootstrap, GenesisUsers: genesis, GenesisMembers: members, RecoveryThreshold: opts.RecoveryThreshold,
			// The sandbox's nodes run on the simulated platform (unless
			// CONFIDE_PLATFORM names hardware): joining ones may too.
			AllowSimulated: true, SignIntervalMS: opts.SignIntervalMS, SignEvery: opts.SignEvery,
			SnapshotEvery: cmp.Or(opts.SnapshotEvery, DefaultSnapshotEvery), CompactKeep: opts.CompactKeep, Eth: ethGenesis}
		if opts.Eth != nil {
			cfg.EthBlockIntervalMS = opts.Eth.BlockIntervalMS
		}
		b, _ := json.MarshalIndent(cfg, "", "  ")
		if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "node_id"), []byte(identity.NodeID(nid.Cert)), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// ethAccounts makes the development accounts, each funded with a
// million ether, and the chain's genesis; the first half (at least two)
// are linked to user0, the others to nobody yet.
func ethAccounts(dir string, o EthOptions) (*eth.Genesis, error) {
	g := &eth.Genesis{Config: eth.Config{Mode: eth.Public, BaseFee: eth.DefaultBaseFee}, Alloc: map[common.Address]*big.Int{},
		Time: uint64(time.Now().Unix()), Links: map[common.Address]string{}}
	certPEM, err := os.ReadFile(filepath.Join(dir, "user0_cert.pem"))
	if err != nil {
		return nil, err
	}
	user0, err := identity.ParseCert(certPEM)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(user0.Raw)
	user0ID := hex.EncodeToString(sum[:])
	n := cmp.Or(o.Accounts, 4)
	linked := max(2, n/2)
	if o.Private {
		g.Config.Mode = eth.Private
	}
	var accts []EthAccount
	for i := range n {
		k, err := crypto.GenerateKey()
		if err != nil {
			return nil, err
		}
		a := crypto.PubkeyToAddress(k.PublicKey)
		g.Alloc[a] = new(big.Int).Mul(big.NewInt(1_000_000), big.NewInt(params.Ether))
		acct := EthAccount{Address: a.Hex(), PrivateKey: hexutil.Encode(crypto.FromECDSA(k))}
		if i < linked {
			g.Links[a], acct.User = user0ID, "user0"
		}
		accts = append(accts, acct)
	}
	b, _ := json.MarshalIndent(accts, "", "  ")
	return g, os.WriteFile(filepath.Join(dir, EthAccountsFile), b, 0o600)
}

// writeEncryptionKey makes a member's encryption key pair (RSA-2048, for
// recovery shares encrypted with RSA-OAEP-256, as CCF's members hold),
// writes NAME_enc_pubk.pem and NAME_enc_privk.pem, and returns the
// public key's PEM.
func writeEncryptionKey(dir, name string) ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	priv, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, name+"_enc_pubk.pem"), pub, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, name+"_enc_privk.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv}), 0o600); err != nil {
		return nil, err
	}
	return pub, nil
}

func writeIdentity(dir, name string, id *identity.Identity) error {
	key, err := identity.EncodeKey(id.Key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+"_cert.pem"), id.CertPEM(), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+"_privk.pem"), key, 0o600)
}

// Start prepares the directory and starts every node.
func Start(opts Options) (*Sandbox, error) {
	if err := Prepare(opts); err != nil {
		return nil, err
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	s := &Sandbox{opts: opts}
	for i := 1; ; i++ {
		dir := filepath.Join(opts.Dir, "nodes", strconv.Itoa(i))
		b, err := os.ReadFile(filepath.Join(dir, "config.json"))
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			return nil, err
		}
		var cfg network.Config
		if err := json.Unmarshal(b, &cfg); err != nil {
			return nil, err
		}
		if len(cfg.Bootstrap) == 0 {
			continue // a spare
		}
		nid, _ := os.ReadFile(filepath.Join(dir, "node_id"))
		s.nodes = append(s.nodes, &proc{id: cfg.ID, nodeID: string(nid), config: filepath.Join(dir, "config.json"), rpc: cfg.RPCAddr})
	}
	for _, p := range s.nodes {
		if err := s.spawn(p); err != nil {
			s.Stop()
			return nil, err
		}
	}
	return s, s.writeNodes()
}

func (s *Sandbox) spawn(p *proc) error {
	argv := s.opts.Command(p.config)
	cmd := exec.Command(argv[0], argv[1:]...)
	logf, err := os.OpenFile(filepath.Join(filepath.Dir(p.config), "out.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	p.cmd, p.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) {
		cmd.Wait()
		logf.Close()
		close(exited)
	}(p.exited)
	return nil
}

// writeNodes rewrites nodes.json (atomically).
func (s *Sandbox) writeNodes() error {
	s.mu.Lock()
	var out []NodeInfo
	for _, p := range s.nodes {
		pid := 0
		if p.cmd != nil && p.cmd.Process != nil {
			pid = p.cmd.Process.Pid
		}
		out = append(out, NodeInfo{NodeID: p.nodeID, RaftID: p.id, RPCAddress: p.rpc, PID: pid})
	}
	s.mu.Unlock()
	b, _ := json.MarshalIndent(out, "", "  ")
	tmp := filepath.Join(s.opts.Dir, NodesFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(s.opts.Dir, NodesFile))
}

// Nodes lists the nodes.
func (s *Sandbox) Nodes() []NodeInfo {
	b, err := os.ReadFile(filepath.Join(s.opts.Dir, NodesFile))
	if err != nil {
		return nil
	}
	var out []NodeInfo
	json.Unmarshal(b, &out)
	return out
}

// Run supervises the nodes until ctx ends: a node that exits (killed)
// is started again after a moment, and nodes.json says its new pid.
func (s *Sandbox) Run(ctx context.Context) error {
	defer s.Stop()
	for {
		s.mu.Lock()
		cases := make([]chan struct{}, len(s.nodes))
		for i, p := range s.nodes {
			if p.cmd != nil {
				cases[i] = p.exited
			}
		}
		s.mu.Unlock()
		exited := -1
		for exited < 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(50 * time.Millisecond):
			}
			for i, c := range cases {
				select {
				case <-c:
					exited = i
				default:
				}
				if exited >= 0 {
					break
				}
			}
		}
		p := s.nodes[exited]
		fmt.Fprintf(s.opts.Log, "node %d (pid %d) exited: %v\n", p.id, p.cmd.Process.Pid, p.cmd.ProcessState)
		if s.opts.NoRestart {
			s.mu.Lock()
			p.cmd = nil
			s.mu.Unlock()
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
		s.mu.Lock()
		err := s.spawn(p)
		s.mu.Unlock()
		if err != nil {
			return err
		}
		if err := s.writeNodes(); err != nil {
			return err
		}
	}
}

// Stop terminates every node.
func (s *Sandbox) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.nodes {
		if p.cmd != nil && p.cmd.Process != nil {
			p.cmd.Process.Signal(os.Interrupt)
		}
	}
	for _, p := range s.nodes {
		if p.cmd == nil {
			continue
		}
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
		}
	}
}
