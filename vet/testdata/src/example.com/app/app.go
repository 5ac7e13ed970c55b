// Package app uses package lib: flows across packages.
package app

import (
	"fmt"
	"os"

	"example.com/lib"
)

func crossPackage(s *lib.Secret, t []byte) {
	lib.Log(s.ID)  // public
	lib.Log(s.Key) // want `direct leak: secret field Secret.Key reaches standard output \(fmt.Println\) via lib.Log\(v\) → standard output`
	k := lib.Fetch()
	fmt.Println(k)                 // want `direct leak: secret result of lib.Fetch`
	fmt.Println(lib.Encrypt(k, t)) // declassified
	lib.SendToHost(k)              // want `direct leak: secret result of lib.Fetch reaches an argument of sink function lib.SendToHost via lib.SendToHost\(b\)`
	fmt.Println(lib.Master)        // want `direct leak: secret variable Master`
	fmt.Println(lib.Pepper)        // want `direct leak: secret constant Pepper`
	_ = lib.Pick(t, int(k[0]))     // want `indirect leak: secret result of lib.Fetch used as index in oblivious function Pick via lib.Pick\(i\) → index at lib.go:\d+`
	_ = lib.Pick(t, len(k))        // lengths are public
	fmt.Println(lib.Handle("x"))   // the error carries a secret // want `direct leak: secret variable Master`
}

func stores(k []byte) {
	var s lib.Secret
	lib.Store(&s, []byte("public"))
	fmt.Println(s.ID) // public
	var s2 lib.Secret
	lib.Store(&s2, lib.Fetch())
	fmt.Println(s2.ID) // want `direct leak: secret result of lib.Fetch`
	buf := make([]byte, 4)
	lib.Fill(buf)
	fmt.Println(buf) // want `direct leak: secret variable Master`
}

// Through interfaces: results and sinks as annotated on lib.KeyStore.
func viaInterface(ks lib.KeyStore) {
	k, err := ks.Get("a")
	if err != nil {
		fmt.Println(err) // errors carry no secret
	}
	fmt.Println(k) // want `direct leak: secret result of lib.KeyStore.Get`
	ks.Publish([]byte("hello"))
	ks.Publish(k) // want `direct leak: secret result of lib.KeyStore.Get reaches an argument of sink method lib.KeyStore.Publish`
}

// Declassified through an interface.
func viaEncrypter(ks lib.KeyStore, e lib.Encrypter) {
	k, _ := ks.Get("a")
	fmt.Println(e.Encrypt(k)) // declassified by the interface's contract
}

// fileStore implements lib.KeyStore.
type fileStore struct{ keys map[string][]byte }

func (f *fileStore) Get(name string) ([]byte, error) { return f.keys[name], nil }
func (f *fileStore) Publish(data []byte)             { os.Stdout.Write(data) }

// row implements lib.Keyed obliviously; badRow does not.
type row struct{ k, v uint64 }

func (r row) Key() uint64 { return r.k ^ r.v }

type badRow struct {
	k uint64 //confide:secret
	n uint64
}

func (r badRow) Key() uint64 {
	if r.n > 10 { // public field: fine
		return 0
	}
	if r.k > 10 { // want `indirect leak: secret field badRow.k used as branch condition in oblivious function badRow.Key`
		return 10
	}
	return r.k
}

// mixer implements lib.Mixer: its parameters are secret.
type mixer struct{ rounds int }

func (m mixer) Mix(x uint64) uint64 {
	for i := 0; i < m.rounds; i++ { // the receiver is not secret
		x ^= x >> 7
	}
	if x == 0 { // want `indirect leak: secret parameter x of mixer.Mix \(implements oblivious lib.Mixer.Mix\) used as branch condition`
		return 1
	}
	return x
}

// aesCipher implements lib.Cipher: its key parameter is secret.
type aesCipher struct{}

func (aesCipher) Init(k []byte) {
	fmt.Println(k) // want `direct leak: secret parameter k of aesCipher.Init`
}

// echo implements lib.Handler: its results leave the enclave.
type echo struct{ s lib.Secret }

func (e *echo) Serve(req []byte) []byte {
	if len(req) == 0 {
		return e.s.Key // want `direct leak: secret field Secret.Key reaches the result of boundary function \(\*echo\).Serve`
	}
	return req
}

var _ lib.KeyStore = (*fileStore)(nil)
var _ lib.Keyed = row{}
var _ lib.Keyed = badRow{}
var _ lib.Cipher = aesCipher{}
var _ lib.Mixer = mixer{}
var _ lib.Handler = (*echo)(nil)
