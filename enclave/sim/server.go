package sim

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/confide/confide/enclave"
)

const codeSVNTooHigh = "svn_too_high"

// protocolVersion is the "v" member of every frame: a platform left
// running by an older confide and a newer client must refuse each other,
// not misread each other.
const protocolVersion = 1

// maxFrame bounds one request or response on the platform socket.
const maxFrame = 64 << 10

// request and response are the frames of the platform protocol
// (spec/sim-platform.md): a 4-byte big-endian length, then JSON.
type request struct {
	V          int    `json:"v"`  // protocolVersion
	Op         string `json:"op"` // "identity", "evidence", "sealkey"
	ReportData []byte `json:"report_data,omitempty"`
	Policy     uint8  `json:"policy,omitempty"`
	SVN        uint16 `json:"svn,omitempty"`
	KeyID      []byte `json:"key_id,omitempty"`
}

type response struct {
	V        int           `json:"v"` // protocolVersion
	Error    string        `json:"error,omitempty"`
	Code     string        `json:"code,omitempty"` // machine-readable error: "svn_too_high"
	Evidence []byte        `json:"evidence,omitempty"`
	Key      []byte        `json:"key,omitempty"`
	Identity *identityJSON `json:"identity,omitempty"`
}

type identityJSON struct {
	UniqueID  []byte `json:"unique_id"`
	ConfigID  []byte `json:"config_id"`
	SignerID  []byte `json:"signer_id"`
	ProductID uint16 `json:"product_id"`
	SVN       uint16 `json:"svn"`
	Debug     bool   `json:"debug"`
	TCBStatus string `json:"tcb_status"`
}

// Server is the simulated platform: it measures each connecting process
// and answers its requests for evidence, identity and sealing keys.
type Server struct {
	Keys *Keys
	Log  *slog.Logger
	// IdleTimeout, when positive, stops Serve once no client has been
	// connected for that long, as gpg-agent does.
	IdleTimeout time.Duration
	Rand        io.Reader

	m measurer
}

// Serve accepts connections on l until ctx ends or the server is idle.
func (s *Server) Serve(ctx context.Context, l *net.UnixListener) error {
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var (
		mu     sync.Mutex
		active int
		wg     sync.WaitGroup
	)
	idle := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	var timer *time.Timer
	if s.IdleTimeout > 0 {
		timer = time.AfterFunc(s.IdleTimeout, func() { idle <- struct{}{} })
		go func() {
			select {
			case <-idle:
				log.Info("platform idle, exiting", "after", s.IdleTimeout)
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	defer wg.Wait()
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		mu.Lock()
		active++
		if timer != nil {
			timer.Stop()
		}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(ctx, c, log)
			mu.Lock()
			active--
			if active == 0 && timer != nil {
				timer.Reset(s.IdleTimeout)
			}
			mu.Unlock()
		}()
	}
}

func (s *Server) serveConn(ctx context.Context, c *net.UnixConn, log *slog.Logger) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	pid, err := peerPID(c)
	if err != nil {
		log.Warn("rejecting connection", "err", err)
		return
	}
	id, err := s.m.measure(pid)
	if err != nil {
		log.Warn("cannot measure caller", "pid", pid, "err", err)
		// Answer the first request with the reason, so the caller sees
		// why rather than a broken pipe.
		c.SetDeadline(time.Now().Add(5 * time.Second))
		var req request
		if readFrame(c, &req) == nil {
			writeFrame(c, response{V: protocolVersion, Error: err.Error()})
		}
		return
	}
	log.Debug("caller measured", "pid", pid, "config_id", fmt.Sprintf("%x", id.ConfigID))
	for {
		var req request
		if err := readFrame(c, &req); err != nil {
			if !errors.Is(err, io.EOF) {
				log.Debug("closing connection", "pid", pid, "err", err)
			}
			return
		}
		if err := writeFrame(c, s.handle(id, req)); err != nil {
			return
		}
	}
}

func (s *Server) handle(id enclave.Identity, req request) response {
	r := s.answer(id, req)
	r.V = protocolVersion
	return r
}

func (s *Server) answer(id enclave.Identity, req request) response {
	if req.V != protocolVersion {
		return response{Error: fmt.Sprintf("unsupported protocol version %d (this platform speaks %d)", req.V, protocolVersion)}
	}
	switch req.Op {
	case "identity":
		return response{Identity: &identityJSON{id.UniqueID, id.ConfigID, id.SignerID, id.ProductID, id.SVN, id.Debug, id.TCBStatus}}
	case "evidence":
		var rd enclave.ReportData
		if len(req.ReportData) != len(rd) {
			return response{Error: "report data must be 64 bytes"}
		}
		copy(rd[:], req.ReportData)
		rnd := s.Rand
		if rnd == nil {
			rnd = rand.Reader
		}
		ev, err := signReport(rnd, s.Keys.ak, s.Keys.AKCert.Raw, id, rd)
		if err != nil {
			return response{Error: err.Error()}
		}
		return response{Evidence: ev}
	case "sealkey":
		kr := enclave.KeyRequest{Policy: enclave.SealPolicy(req.Policy), SVN: req.SVN}
		if len(req.KeyID) != len(kr.KeyID) {
			return response{Error: "key ID must be 32 bytes"}
		}
		copy(kr.KeyID[:], req.KeyID)
		key, err := s.Keys.sealKey(id, kr)
		if errors.Is(err, enclave.ErrSVNTooHigh) {
			return response{Error: err.Error(), Code: codeSVNTooHigh}
		}
		if err != nil {
			return response{Error: err.Error()}
		}
		return response{Key: key}
	}
	return response{Error: fmt.Sprintf("unknown operation %q", req.Op)}
}

// sealKey derives a sealing key as SGX's EGETKEY does: from the platform's
// secret and the parts of the caller's identity that the policy names,
// debug flag always included, so that a debug enclave never derives a
// production enclave's key.
func (k *Keys) sealKey(id enclave.Identity, req enclave.KeyRequest) ([]byte, error) {
	info := []byte("confide sim seal v1\x00")
	info = append(info, byte(req.Policy))
	if id.Debug {
		info = append(info, 1)
	} else {
		info = append(info, 0)
	}
	switch req.Policy {
	case enclave.SealUnique:
		info = append(info, id.UniqueID...)
		info = append(info, id.ConfigID...)
	case enclave.SealProduct:
		if req.SVN > id.SVN {
			return nil, enclave.ErrSVNTooHigh
		}
		info = append(info, id.SignerID...)
		info = binary.BigEndian.AppendUint16(info, id.ProductID)
		info = append(info, id.ConfigID...)
		info = binary.BigEndian.AppendUint16(info, req.SVN)
	default:
		return nil, fmt.Errorf("unknown seal policy %d", req.Policy)
	}
	return hkdf.Key(sha256.New, k.seal, req.KeyID[:], string(info), 32)
}

func readFrame(r io.Reader, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxFrame {
		return fmt.Errorf("frame of %d bytes exceeds %d", n, maxFrame)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the frame's JSON object")
	}
	return nil
}

func writeFrame(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	out := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(b)), uint32(len(b)))
	_, err = w.Write(append(out, b...))
	return err
}

// ErrPlatformRunning is returned by Listen when a live platform already
// serves the directory.
var ErrPlatformRunning = errors.New("sim: a platform is already serving")

// Listen opens the platform socket in dir, replacing a stale one left by
// a platform that died; it fails if a live platform answers there.
func Listen(dir string) (*net.UnixListener, error) {
	path := dir + "/" + SocketFile
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("%w: %s", ErrPlatformRunning, path)
	}
	os.Remove(path)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	l.SetUnlinkOnClose(true)
	return l, os.Chmod(path, 0o600)
}
