// Package fp holds code a careful user would not accept findings on:
// public data, lengths, declassified values, errors that carry no secret.
package fp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
)

var errShort = errors.New("fp: key too short")

// checkKey returns errors that say nothing about the key but its length.
//
//confide:secret key
func checkKey(key []byte) error {
	if len(key) < 16 {
		return fmt.Errorf("%w: %d bytes", errShort, len(key))
	}
	return nil
}

//confide:secret key
func errorsCarryNoSecret(key []byte) {
	if err := checkKey(key); err != nil {
		log.Print(err)
	}
}

// describe uses only its argument's length.
func describe(b []byte) string { return fmt.Sprintf("%d bytes", len(b)) }

//confide:secret key
func lengthsArePublic(key []byte) {
	fmt.Println(describe(key))
	fmt.Println(len(key), cap(key))
}

// cache keeps keys next to public state.
type cache struct {
	name  string
	rand  io.Reader
	keys  map[string]cipher.AEAD
	count int
}

//confide:secret key
func (c *cache) add(id string, key []byte) error {
	b, err := aes.NewCipher(key)
	if err != nil {
		return err
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return err
	}
	c.keys[id] = g // the keys field holds secrets; the others do not
	c.count++
	log.Printf("cache %s: %d keys", c.name, c.count)
	return nil
}

//confide:secret key
func usesCache(c *cache, key []byte) {
	_ = c.add("a", key)
	fmt.Println(c.name, c.count) // other fields stay public
	buf := make([]byte, 12)
	io.ReadFull(c.rand, buf)
	fmt.Println(buf) // nonce from the public reader
}

//confide:secret key
func declassified(key, msg []byte) {
	b, _ := aes.NewCipher(key)
	g, _ := cipher.NewGCM(b)
	nonce := make([]byte, g.NonceSize())
	ct := g.Seal(nonce, nonce, msg, nil)
	os.Stdout.Write(ct)
	id := sha256.Sum256(key)
	fmt.Printf("key id %x\n", id)
}

// sum is oblivious: it loops over public positions of secret data.
//
//confide:oblivious
//confide:secret xs
func sum(xs []uint64, n int) uint64 {
	var total uint64
	for i := 0; i < n && i < len(xs); i++ {
		total += xs[i]
	}
	scale := func(v uint64) uint64 { return v * uint64(n) }
	return scale(total)
}

// publicOnly has no secrets at all.
func publicOnly(args []string) {
	for i, a := range args {
		if a == "-v" {
			fmt.Println(i, a)
		}
	}
}
