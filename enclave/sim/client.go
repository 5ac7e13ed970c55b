package sim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"time"

	"github.com/confide/confide/enclave"
)

// Client is an enclave's view of the simulated platform. It implements
// enclave.Platform and enclave.SealKeyer. Methods are safe for concurrent
// use; requests on one connection are serialised.
type Client struct {
	mu     sync.Mutex
	conn   net.Conn
	id     *enclave.Identity
	broken error
}

var (
	_ enclave.Platform  = (*Client)(nil)
	_ enclave.SealKeyer = (*Client)(nil)
)

// ErrNoPlatform is returned when no platform answers on the socket.
var ErrNoPlatform = errors.New("sim: no platform running (start it with `confide platform serve`)")

// Dial connects to the platform serving in dir. If none answers and spawn
// is not nil, Dial calls spawn to start one (detached, like gpg-agent) and
// waits for it up to ctx's deadline or ten seconds.
func Dial(ctx context.Context, dir string, spawn func() error) (*Client, error) {
	path := filepath.Join(dir, SocketFile)
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err == nil {
		return &Client{conn: c}, nil
	}
	if spawn == nil {
		return nil, fmt.Errorf("%w: %v", ErrNoPlatform, err)
	}
	if err := spawn(); err != nil {
		return nil, fmt.Errorf("sim: starting platform: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for delay := 5 * time.Millisecond; ; delay = min(2*delay, 200*time.Millisecond) {
		if c, err = d.DialContext(ctx, "unix", path); err == nil {
			return &Client{conn: c}, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: started one but it did not answer: %v", ErrNoPlatform, err)
		case <-time.After(delay):
		}
	}
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

func (c *Client) call(ctx context.Context, req request) (response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if dl, ok := ctx.Deadline(); ok {
		c.conn.SetDeadline(dl)
		defer c.conn.SetDeadline(time.Time{})
	}
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	var resp response
	if c.broken != nil {
		return resp, c.broken
	}
	req.V = protocolVersion
	err := writeFrame(c.conn, req)
	if err == nil {
		err = readFrame(c.conn, &resp)
	}
	if err != nil {
		// A frame may be half written or read: the connection cannot
		// be used again.
		c.conn.Close()
		c.broken = fmt.Errorf("sim: platform connection closed after an earlier error: %w", err)
		if ctx.Err() != nil {
			return resp, ctx.Err()
		}
		return resp, fmt.Errorf("sim: platform: %w", err)
	}
	if resp.V != protocolVersion {
		return resp, fmt.Errorf("sim: platform speaks protocol version %d, this client %d: restart the platform", resp.V, protocolVersion)
	}
	if resp.Code == codeSVNTooHigh {
		return resp, enclave.ErrSVNTooHigh
	}
	if resp.Error != "" {
		return resp, fmt.Errorf("sim: platform: %s", resp.Error)
	}
	return resp, nil
}

// Evidence implements enclave.Attester.
func (c *Client) Evidence(ctx context.Context, rd enclave.ReportData) ([]byte, error) {
	resp, err := c.call(ctx, request{Op: "evidence", ReportData: rd[:]})
	if err != nil {
		return nil, err
	}
	return resp.Evidence, nil
}

// Identity implements enclave.Self. The platform measured the process once,
// when it connected; the answer is cached.
func (c *Client) Identity(ctx context.Context) (enclave.Identity, error) {
	c.mu.Lock()
	id := c.id
	c.mu.Unlock()
	if id != nil {
		return *id, nil
	}
	resp, err := c.call(ctx, request{Op: "identity"})
	if err != nil {
		return enclave.Identity{}, err
	}
	if resp.Identity == nil {
		return enclave.Identity{}, errors.New("sim: platform sent no identity")
	}
	j := resp.Identity
	id = &enclave.Identity{Platform: enclave.PlatformSim, UniqueID: j.UniqueID, ConfigID: j.ConfigID, SignerID: j.SignerID,
		ProductID: j.ProductID, SVN: j.SVN, Debug: j.Debug, TCBStatus: j.TCBStatus}
	c.mu.Lock()
	c.id = id
	c.mu.Unlock()
	return *id, nil
}

// SealKey implements enclave.SealKeyer.
func (c *Client) SealKey(ctx context.Context, req enclave.KeyRequest) ([]byte, error) {
	resp, err := c.call(ctx, request{Op: "sealkey", Policy: uint8(req.Policy), SVN: req.SVN, KeyID: req.KeyID[:]})
	if err != nil {
		return nil, err
	}
	if len(resp.Key) != 32 {
		return nil, errors.New("sim: platform sent a malformed key")
	}
	return resp.Key, nil
}
