package sim

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/confide/confide/enclave"
)

// measurer derives a connecting process's identity from what the kernel
// says about it: the executable behind /proc/PID/exe, hashed, and the
// enclave image named in the environment the process was started with.
// The process's own requests play no part.
//
// Limits of the simulation: the environment and the image file are read
// when the process first connects, not when it was exec'd, and
// /proc/PID/environ is memory the process can rewrite. Measured code is
// trusted not to do that (it is the code the identity names); a real TEE
// measures at launch and needs no such trust. spec/enclave-image.md lists
// these limits.
type measurer struct {
	mu    sync.Mutex
	cache map[exeKey][]byte // executable hashes: a Go binary is tens of MB
}

type exeKey struct {
	dev, ino uint64
	size     int64
	mtimeNs  int64
}

func (m *measurer) measure(pid int) (enclave.Identity, error) {
	proc := "/proc/" + strconv.Itoa(pid)
	start, err := startTime(proc)
	if err != nil {
		return enclave.Identity{}, err
	}
	exeHash, err := m.hashExe(proc + "/exe")
	if err != nil {
		return enclave.Identity{}, fmt.Errorf("sim: measuring executable: %w", err)
	}
	im, err := launchImage(proc)
	if err != nil {
		return enclave.Identity{}, err
	}
	id, err := im.identity(exeHash)
	if err != nil {
		return enclave.Identity{}, err
	}
	// The PID must still be the process that connected: a process that
	// exited and whose PID was reused would otherwise lend its identity.
	if again, err := startTime(proc); err != nil || again != start {
		return enclave.Identity{}, errors.New("sim: caller exited while being measured")
	}
	return id, nil
}

func startTime(proc string) (string, error) {
	b, err := os.ReadFile(proc + "/stat")
	if err != nil {
		return "", fmt.Errorf("sim: reading caller's process status: %w", err)
	}
	// The command name (field 2) may hold spaces and parentheses: fields
	// are counted after its closing parenthesis.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", errors.New("sim: unparsable process status")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return "", errors.New("sim: unparsable process status")
	}
	return f[19], nil // field 22, starttime
}

func (m *measurer) hashExe(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, errors.New("no inode information")
	}
	key := exeKey{dev: uint64(st.Dev), ino: st.Ino, size: fi.Size(), mtimeNs: fi.ModTime().UnixNano()}
	m.mu.Lock()
	h, ok := m.cache[key]
	m.mu.Unlock()
	if ok {
		return h, nil
	}
	d := sha256.New()
	if _, err := io.Copy(d, f); err != nil {
		return nil, err
	}
	h = d.Sum(nil)
	m.mu.Lock()
	if m.cache == nil || len(m.cache) > 64 {
		m.cache = make(map[exeKey][]byte)
	}
	m.cache[key] = h
	m.mu.Unlock()
	return h, nil
}

// launchImage returns the enclave image the process was launched with, or
// the unsigned CLI image when it names none.
func launchImage(proc string) (*Image, error) {
	env, err := os.ReadFile(proc + "/environ")
	if err != nil {
		return nil, fmt.Errorf("sim: reading caller's environment: %w", err)
	}
	var path string
	for _, kv := range bytes.Split(env, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte(EnvEnclave+"=")); ok {
			path = string(v)
		}
	}
	if path == "" {
		return UnsignedImage(enclave.CLIManifest.Marshal()), nil
	}
	if !filepath.IsAbs(path) {
		cwd, err := os.Readlink(proc + "/cwd")
		if err != nil {
			return nil, fmt.Errorf("sim: resolving enclave image path: %w", err)
		}
		path = filepath.Join(cwd, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sim: reading the enclave image the caller was launched with: %w", err)
	}
	return ParseImage(b)
}
