package kvstore

import (
	"errors"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Store is a transactional ordered key-value store.
//
// Contract: a View sees one consistent snapshot; an Update is atomic and
// durable when it returns nil, and changes nothing if fn returns an
// error. Slices a Tx returns are valid only until the transaction ends;
// callers copy what they keep. Buckets are created on first Put.
type Store interface {
	View(fn func(Tx) error) error
	Update(fn func(Tx) error) error
	Close() error
}

// Tx is one transaction.
type Tx interface {
	// Get returns the value, or nil if the key or bucket is absent.
	Get(bucket string, key []byte) []byte
	Put(bucket string, key, value []byte) error
	// Delete removes a key; deleting an absent key is not an error.
	Delete(bucket string, key []byte) error
	// ForEach visits the bucket's keys in byte order, from the first key
	// ≥ from (nil: the first key); fn's error stops the walk and is
	// returned.
	ForEach(bucket string, from []byte, fn func(k, v []byte) error) error
	// Last returns the bucket's greatest key and its value, or nils.
	Last(bucket string) (k, v []byte)
}

// Bolt is a Store in one bbolt file.
type Bolt struct{ db *bolt.DB }

// ErrLocked is returned when another process holds the database.
var ErrLocked = errors.New("kvstore: database is in use by another process")

// OpenBolt opens (creating) the database file at path, mode 0600.
func OpenBolt(path string) (*Bolt, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s", ErrLocked, path)
	}
	if err != nil {
		return nil, fmt.Errorf("kvstore: %w", err)
	}
	return &Bolt{db}, nil
}

func (b *Bolt) View(fn func(Tx) error) error {
	return b.db.View(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

func (b *Bolt) Update(fn func(Tx) error) error {
	return b.db.Update(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

func (b *Bolt) Close() error { return b.db.Close() }

// Path is the database file.
func (b *Bolt) Path() string { return b.db.Path() }

// Backup writes a consistent copy of the whole store to a new file at
// path (mode 0600) while it stays open for reads and writes. It never
// overwrites a file: a path mistaken for the store itself loses nothing.
func (b *Bolt) Backup(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	err = b.db.View(func(tx *bolt.Tx) error {
		_, err := tx.WriteTo(f)
		return err
	})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

type boltTx struct{ tx *bolt.Tx }

func (t boltTx) Get(bucket string, key []byte) []byte {
	bk := t.tx.Bucket([]byte(bucket))
	if bk == nil {
		return nil
	}
	return bk.Get(key)
}

func (t boltTx) Put(bucket string, key, value []byte) error {
	bk, err := t.tx.CreateBucketIfNotExists([]byte(bucket))
	if err != nil {
		return err
	}
	return bk.Put(key, value)
}

func (t boltTx) Delete(bucket string, key []byte) error {
	bk := t.tx.Bucket([]byte(bucket))
	if bk == nil {
		return nil
	}
	return bk.Delete(key)
}

func (t boltTx) ForEach(bucket string, from []byte, fn func(k, v []byte) error) error {
	bk := t.tx.Bucket([]byte(bucket))
	if bk == nil {
		return nil
	}
	c := bk.Cursor()
	var k, v []byte
	if from == nil {
		k, v = c.First()
	} else {
		k, v = c.Seek(from)
	}
	for ; k != nil; k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

func (t boltTx) Last(bucket string) ([]byte, []byte) {
	bk := t.tx.Bucket([]byte(bucket))
	if bk == nil {
		return nil, nil
	}
	return bk.Cursor().Last()
}
