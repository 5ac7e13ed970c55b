package node

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/confide/confide/ledger/identity"
)

// maxFrame bounds a raft message on the wire (raft's MaxSizePerMsg is
// 1 MiB, but one entry may be up to 64 MiB).
const maxFrame = 80 << 20

// TLSConfig is the mutually authenticated TLS 1.3 configuration of the
// service's nodes: each presents its node certificate and accepts only
// peers whose certificate the service endorsed. Used for node-to-node
// traffic and for forwarding.
func TLSConfig(node *identity.Identity, service *x509.Certificate) *tls.Config {
	verify := func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("node: the peer sent no certificate")
		}
		c, err := x509.ParseCertificate(raw[0])
		if err != nil {
			return err
		}
		_, err = identity.CheckNode(c, service)
		return err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{{Certificate: [][]byte{node.Cert.Raw}, PrivateKey: node.Key, Leaf: node.Cert}},
		ClientAuth:   tls.RequireAnyClientCert,
		// Node certificates name no host; the service's endorsement is
		// what authenticates a peer, checked here for both directions.
		InsecureSkipVerify:    true,
		VerifyPeerCertificate: verify,
	}
}

// Transport carries raft messages between nodes over TLS: one outgoing
// connection per peer with a bounded queue (full: dropped, raft resends),
// frames of length (4) ‖ raftpb.Message.
type Transport struct {
	link   *Link
	server *tls.Config
	client *tls.Config
	ln     net.Listener
	recv   func(pb.Message)

	// SnapshotSent, if set, learns whether a snapshot message reached its
	// peer (raft waits for that before it replicates to the peer again).
	SnapshotSent func(to uint64, ok bool)

	mu    sync.Mutex
	peers map[uint64]*peer
	done  chan struct{}
	wg    sync.WaitGroup
}

type peer struct {
	addr string
	ch   chan pb.Message
}

// Listen starts a transport on addr; recv gets every message a peer
// sends.
func Listen(addr string, link *Link, recv func(pb.Message)) (*Transport, error) {
	server, client, err := link.configs()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	t := &Transport{link: link, server: server, client: client, ln: ln, recv: recv, peers: map[uint64]*peer{}, done: make(chan struct{})}
	t.wg.Add(1)
	go t.accept()
	return t, nil
}

// Addr is the address the transport listens on.
func (t *Transport) Addr() string { return t.ln.Addr().String() }

// SetPeer sets the address of a peer.
func (t *Transport) SetPeer(id uint64, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.peers[id]; ok && p.addr == addr {
		return
	}
	p := &peer{addr: addr, ch: make(chan pb.Message, 4096)}
	if old, ok := t.peers[id]; ok {
		close(old.ch)
	}
	t.peers[id] = p
	t.wg.Add(1)
	go t.dial(p)
}

// Send queues messages for their peers.
func (t *Transport) Send(msgs []pb.Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range msgs {
		p := t.peers[m.To]
		if p == nil {
			continue
		}
		select {
		case p.ch <- m:
		default:
		}
	}
}

// Close stops the transport.
func (t *Transport) Close() error {
	close(t.done)
	err := t.ln.Close()
	t.mu.Lock()
	for id, p := range t.peers {
		close(p.ch)
		delete(t.peers, id)
	}
	t.mu.Unlock()
	t.wg.Wait()
	return err
}

func (t *Transport) accept() {
	defer t.wg.Done()
	for {
		c, err := t.ln.Accept()
		if err != nil {
			return
		}
		t.wg.Add(1)
		go t.serve(c)
	}
}

func (t *Transport) serve(raw net.Conn) {
	defer t.wg.Done()
	c, err := t.link.serverConn(raw, t.server)
	if err != nil {
		return // not a node of this service, or not attested
	}
	defer c.Close()
	go func() {
		<-t.done
		c.Close()
	}()
	r := bufio.NewReaderSize(c, 64<<10)
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n > maxFrame {
			return
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return
		}
		var m pb.Message
		if err := m.Unmarshal(b); err != nil {
			return
		}
		t.recv(m)
	}
}

func (t *Transport) dial(p *peer) {
	defer t.wg.Done()
	var conn net.Conn
	var w *bufio.Writer
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for m := range p.ch {
		if conn == nil {
			c, err := t.link.dial(p.addr, t.client)
			if err != nil {
				// Down: drop what is queued; raft will resend.
				if m.Type == pb.MsgSnap && t.SnapshotSent != nil {
					t.SnapshotSent(m.To, false)
				}
				for len(p.ch) > 0 {
					if q := <-p.ch; q.Type == pb.MsgSnap && t.SnapshotSent != nil {
						t.SnapshotSent(q.To, false)
					}
				}
				select {
				case <-t.done:
					return
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
			conn, w = c, bufio.NewWriterSize(c, 64<<10)
		}
		err := writeFrame(w, m)
		// Flush when the queue is empty (many messages, one write) and
		// after a snapshot, whose delivery raft waits to hear of.
		if err == nil && (len(p.ch) == 0 || m.Type == pb.MsgSnap) {
			err = w.Flush()
		}
		if m.Type == pb.MsgSnap && t.SnapshotSent != nil {
			t.SnapshotSent(m.To, err == nil)
		}
		if err != nil {
			conn.Close()
			conn = nil
		}
	}
}

func writeFrame(w *bufio.Writer, m pb.Message) error {
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(b)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
