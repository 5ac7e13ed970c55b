// Package lib is imported by package app: its summaries and secrets reach
// app as facts.
package lib

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
)

// Secret holds a key.
type Secret struct {
	Key []byte //confide:secret
	ID  string
}

//confide:secret
var Master = []byte{1, 2, 3} // want Master:`secret\(variable Master\)`

//confide:secret
const Pepper = "pepper"

// Log prints v.
func Log(v any) { // want Log:`Log v\{sink,\*sink\}`
	fmt.Println(v)
}

// Pick returns t[i].
//
//confide:oblivious
func Pick(t []byte, i int) byte { // want Pick:`Pick oblivious t\{\*result0\} i\{result0,index\}`
	return t[i]
}

// Fetch returns a key.
//
//confide:secret
func Fetch() []byte { return Master }

// Encrypt seals pt under key.
//
//confide:declassify
func Encrypt(key, pt []byte) []byte {
	b, _ := aes.NewCipher(key)
	g, _ := cipher.NewGCM(b)
	return g.Seal(nil, make([]byte, 12), pt, nil)
}

// SendToHost hands b to the host.
//
//confide:sink
func SendToHost(b []byte) {}

// Store copies k into the public ID of dst.
func Store(dst *Secret, k []byte) { // want Store:`Store dst k\{store→dst,\*store→dst\}`
	dst.ID = string(k)
}

// Fill copies the master key into buf.
func Fill(buf []byte) { // want Fill:`Fill buf\{gets-secret\}`
	copy(buf, Master)
}

// Handle is called by the host: its results leave the enclave.
//
//confide:boundary
func Handle(req string) (string, error) {
	if req == "key" {
		return "", fmt.Errorf("no key %x", Master) // want `direct leak: secret variable Master reaches the result of boundary function Handle`
	}
	return "ok " + req, nil
}

// KeyStore is implemented in other packages.
type KeyStore interface {
	// Get returns the key called name.
	//
	//confide:secret
	Get(name string) ([]byte, error)
	// Publish sends data to the host.
	//
	//confide:sink
	Publish(data []byte)
}

// Keyed is a record compared by key, obliviously.
type Keyed interface {
	//confide:oblivious
	Key() uint64
}

// Encrypter encrypts.
type Encrypter interface {
	//confide:declassify
	Encrypt(pt []byte) []byte
}

// Mixer mixes secret words.
type Mixer interface {
	//confide:oblivious
	Mix(x uint64) uint64
}

// Cipher is initialized with a key.
type Cipher interface {
	//confide:secret key
	Init(key []byte)
}

// Handler serves requests from the host.
type Handler interface {
	//confide:boundary
	Serve(req []byte) []byte
}
