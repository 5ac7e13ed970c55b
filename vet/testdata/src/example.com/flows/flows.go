// Package flows exercises secrecy through channels, goroutines, maps,
// package variables, generics, closures and method values.
package flows

import (
	"fmt"
	"log"
	"sort"
)

type Vault struct {
	key  []byte //confide:secret
	name string
}

func channels(v *Vault) {
	ch := make(chan []byte, 1)
	ch <- v.key
	got := <-ch
	fmt.Println(got) // want `direct leak: secret field Vault.key reaches standard output`
	pub := make(chan string, 1)
	pub <- v.name
	fmt.Println(<-pub) // public channel
}

func goroutines(v *Vault) {
	done := make(chan struct{})
	go func() {
		log.Print(string(v.key)) // want `direct leak: secret field Vault.key reaches log output`
		close(done)
	}()
	<-done
	go log.Print(v.key) // want `direct leak: secret field Vault.key reaches log output`
}

func maps(v *Vault) {
	m := map[string][]byte{}
	m["k"] = v.key
	for name, val := range m {
		fmt.Println(name) // want `direct leak: secret field Vault.key`
		_ = val
	}
	n := map[string]string{"a": v.name}
	fmt.Println(n["a"]) // public map
}

// cached is not annotated: it becomes secret when a secret is stored in it.
var cached []byte

func setCache(v *Vault) { cached = v.key }

func readCache() {
	fmt.Println(cached) // want `direct leak: secret variable cached \(holding secret field Vault.key\)`
}

var label string

func setLabel(s string) { label = s }

//confide:secret k
func setsThroughCall(k string) {
	setLabel(k)
}

func readLabel() {
	fmt.Println(label) // want `direct leak: secret variable label`
}

// first is generic.
func first[T any](xs []T) T { return xs[0] }

func generics(v *Vault) {
	keys := [][]byte{v.key}
	fmt.Println(first(keys)) // want `direct leak: secret field Vault.key`
	names := []string{v.name}
	fmt.Println(first(names)) // public
}

// closures that write their captured variables: the write happens where
// the closure is made.
func closureWrites(v *Vault) {
	var out []byte
	set := func() { out = v.key }
	run(set)
	fmt.Println(out) // want `direct leak: secret field Vault.key`
}

func run(f func()) { f() }

// Show prints the vault's name.
func (v *Vault) Show() { fmt.Println(v.name) }

// Dump prints the key.
func (v *Vault) Dump() { fmt.Println(v.key) } // want `direct leak: secret field Vault.key`

func methodValues(v *Vault) {
	f := v.Show
	f()
	g := v.Dump
	g()
}

type byKey []*Vault

func sorting(vs []*Vault) {
	sort.Slice(vs, func(i, j int) bool { return vs[i].name < vs[j].name })
}

// wrapped errors carry their secrets.
//
//confide:secret k
func wrapped(k string) {
	err := fmt.Errorf("key %s rejected", k)
	err2 := fmt.Errorf("while loading: %w", err)
	log.Println(err2) // want `direct leak: secret parameter k of wrapped reaches log output`
}

// Card is comparable and has a secret field.
type Card struct {
	Number uint64 //confide:secret
	Owner  string
}

// structs compared as a whole reveal their secret fields.
//
//confide:oblivious
func compare(a, b Card, n int) bool {
	type pair struct{ x, y int }
	p, q := pair{n, 1}, pair{1, 2}
	_ = p == q             // public struct
	_ = a.Owner == b.Owner // public fields
	return a == b          // want `secret field Card.Number used as operand of an early-exit comparison`
}
