package gov

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/dop251/goja"

	"github.com/confide/confide/ledger/app"
	"github.com/confide/confide/ledger/kv"
)

// The constitution (spec/ledger-governance.md §3) is JavaScript stored in
// the ledger, with CCF's shape: validate(input) checks a proposal,
// resolve(proposal, proposerId, votes) decides it, apply(proposal,
// proposalId) carries it out. Ballots are JavaScript too: vote(proposal,
// proposerId) returns true or false, and is evaluated again whenever the
// proposal is resolved. Scripts run in goja with the global ccf:
//
//	ccf.kv[name].get(key) / has(key) / set(key, value) / delete(key) / forEach(fn(value, key))
//	ccf.certFingerprint(pem)   hex SHA-256 of a certificate's DER (a member or user ID)
//
// Keys and values are strings (JSON where the map holds records). Scripts
// read public maps only and write the governance maps and the users map;
// `export` before a declaration is accepted (and ignored), so that CCF's
// module-style constitutions read as they are written.

// DefaultConstitution is the constitution a new service starts with.
//
//go:embed default_constitution.js
var DefaultConstitution string

// scriptTimeout bounds one script's run.
const scriptTimeout = 250 * time.Millisecond

// ErrScript reports a script that failed: a syntax error, an exception,
// a missing function, the time limit.
var ErrScript = errors.New("gov: script failed")

var exportRE = regexp.MustCompile(`(?m)^(\s*)export\s+(default\s+)?`)

var programs sync.Map // source digest → *goja.Program

func compile(name, src string) (*goja.Program, error) {
	sum := sha256.Sum256([]byte(src))
	key := hex.EncodeToString(sum[:])
	if p, ok := programs.Load(key); ok {
		return p.(*goja.Program), nil
	}
	p, err := goja.Compile(name, exportRE.ReplaceAllString(src, "$1"), true)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrScript, name, err)
	}
	programs.Store(key, p)
	return p, nil
}

// call runs src in a fresh runtime bound to tx and calls its function
// fn with args; the result is exported to Go.
func call(tx *kv.Tx, name, src, fn string, args ...any) (res any, err error) {
	prog, err := compile(name, src)
	if err != nil {
		return nil, err
	}
	vm := goja.New()
	vm.SetMaxCallStackSize(1024)
	timer := time.AfterFunc(scriptTimeout, func() { vm.Interrupt("time limit") })
	defer timer.Stop()
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("%w: %s: %v", ErrScript, name, r)
		}
	}()
	if err := bindCCF(vm, tx); err != nil {
		return nil, err
	}
	if _, err := vm.RunProgram(prog); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrScript, name, err)
	}
	f, ok := goja.AssertFunction(vm.Get(fn))
	if !ok {
		return nil, fmt.Errorf("%w: %s has no function %s", ErrScript, name, fn)
	}
	vals := make([]goja.Value, len(args))
	for i, a := range args {
		vals[i] = vm.ToValue(a)
	}
	out, err := f(goja.Undefined(), vals...)
	if err != nil {
		return nil, fmt.Errorf("%w: %s.%s: %v", ErrScript, name, fn, err)
	}
	return out.Export(), nil
}

// writable reports whether scripts may write a map.
func writable(m string) bool {
	return strings.HasPrefix(m, "public:confide.gov.") || m == app.MapUsers
}

// bindCCF installs the ccf global.
func bindCCF(vm *goja.Runtime, tx *kv.Tx) error {
	ccf := vm.NewObject()
	maps := vm.NewDynamicObject(&kvObject{vm: vm, tx: tx})
	if err := ccf.Set("kv", maps); err != nil {
		return err
	}
	if err := ccf.Set("certFingerprint", func(pemText string) (string, error) {
		c, err := parseCertPEM([]byte(pemText))
		if err != nil {
			return "", err
		}
		return MemberID(c), nil
	}); err != nil {
		return err
	}
	return vm.Set("ccf", ccf)
}

// kvObject is ccf.kv: a property per map name.
type kvObject struct {
	vm *goja.Runtime
	tx *kv.Tx
}

func (o *kvObject) Get(name string) goja.Value {
	if !strings.HasPrefix(name, "public:") {
		panic(o.vm.NewTypeError("ccf.kv: scripts read public maps only, not %q", name))
	}
	h := o.vm.NewObject()
	tx, vm := o.tx, o.vm
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	must(h.Set("get", func(k string) goja.Value {
		v, ok := tx.Get(name, []byte(k))
		if !ok {
			return goja.Undefined()
		}
		return vm.ToValue(string(v))
	}))
	must(h.Set("has", func(k string) bool { _, ok := tx.Get(name, []byte(k)); return ok }))
	must(h.Set("set", func(k, v string) {
		if !writable(name) {
			panic(vm.NewTypeError("ccf.kv: scripts do not write %q", name))
		}
		tx.Put(name, []byte(k), []byte(v))
	}))
	must(h.Set("delete", func(k string) {
		if !writable(name) {
			panic(vm.NewTypeError("ccf.kv: scripts do not write %q", name))
		}
		tx.Delete(name, []byte(k))
	}))
	must(h.Set("forEach", func(fn goja.Callable) {
		tx.Range(name, func(k, v []byte) bool {
			_, err := fn(goja.Undefined(), vm.ToValue(string(v)), vm.ToValue(string(k)))
			if err != nil {
				panic(err)
			}
			return true
		})
	}))
	return h
}

func (o *kvObject) Set(string, goja.Value) bool { return false }
func (o *kvObject) Has(name string) bool        { return strings.HasPrefix(name, "public:") }
func (o *kvObject) Delete(string) bool          { return false }
func (o *kvObject) Keys() []string              { return nil }
