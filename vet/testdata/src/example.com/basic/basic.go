// Package basic exercises direct leaks and the annotation forms.
package basic

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"os"
)

// Config has a secret field and public ones.
type Config struct {
	Name string
	Key  []byte //confide:secret
	//confide:secret
	Token string
	Port  int
}

// Inner is embedded secretly.
type Inner struct{ PIN int }

// Outer embeds Inner as a secret.
type Outer struct {
	Inner //confide:secret
	Label string
}

//confide:secret
var masterKey = []byte("k")

var (
	publicName = "confide"
	//confide:secret
	groupedKey  = "g"
	otherPublic = 3 // not secret
)

const testKey = "hunter2" //confide:secret

// Param leak.
//
//confide:secret key
func paramLeak(key []byte, label string) {
	fmt.Println(label)       // public: fine
	fmt.Println(key)         // want `direct leak: secret parameter key of paramLeak reaches standard output`
	log.Printf("%x", key[0]) // want `direct leak: secret parameter key of paramLeak reaches log output`
}

// Receiver leak.
//
//confide:secret c
func (c *Config) receiverLeak() {
	fmt.Println(c.Name) // want `direct leak: secret receiver c`
}

// Fields: public fields of a config with a secret field are public.
func fieldLeak(c *Config) {
	fmt.Println(c.Name, c.Port)     // public fields
	fmt.Println(c.Key)              // want `direct leak: secret field Config.Key reaches`
	fmt.Println(c.Token)            // want `direct leak: secret field Config.Token reaches`
	fmt.Println(c)                  // want `direct leak: secret field Config.Key reaches`
	os.Stdout.Write([]byte(c.Name)) // public
	os.Stdout.Write(c.Key)          // want `direct leak: secret field Config.Key reaches standard output \(os.\(\*File\).Write\)`
}

func embedded(o Outer) {
	fmt.Println(o.Label)     // public
	fmt.Println(o.PIN)       // want `direct leak: secret field Outer.Inner reaches`
	fmt.Println(o.Inner.PIN) // want `direct leak: secret field Outer.Inner reaches`
}

// Variadic parameters cover every element.
//
//confide:secret parts
func variadic(parts ...string) {
	fmt.Println(len(parts)) // lengths are public
	fmt.Println(parts[1])   // want `direct leak: secret parameter parts`
}

func globals() {
	fmt.Println(publicName, otherPublic) // public
	fmt.Println(masterKey)               // want `direct leak: secret variable masterKey`
	fmt.Println(groupedKey)              // want `direct leak: secret variable groupedKey`
	fmt.Println(testKey)                 // want `direct leak: secret constant testKey`
}

func shortVar() {
	k := derive() //confide:secret
	j := derive()
	fmt.Println(j) // public
	fmt.Println(k) // want `direct leak: secret variable k`
}

func derive() []byte { return []byte{1} }

// load returns a secret.
//
//confide:secret
func load() ([]byte, error) { return nil, nil }

func resultLeak() error {
	k, err := load()
	if err != nil {
		fmt.Println(err) // errors carry no secret
		return err
	}
	fmt.Println(k) // want `direct leak: secret result of basic.load`
	return nil
}

// namedResults marks only key secret.
//
//confide:secret key
func namedResults() (key []byte, id string) { return nil, "" }

func namedResultLeak() {
	k, id := namedResults()
	fmt.Println(id) // public
	fmt.Println(k)  // want `direct leak: secret result of basic.namedResults`
}

// errors built from secrets are secret.
func errFromSecret(c *Config) error {
	return fmt.Errorf("bad key %x", c.Key)
}

func errLeak(c *Config) {
	err := errFromSecret(c)
	log.Print(err) // want `direct leak: secret field Config.Key reaches log output`
	err2 := errors.New("public")
	log.Print(err2) // public
}

func panicLeak(c *Config) {
	if c == nil {
		panic("nil config") // public
	}
	panic(string(c.Key)) // want `direct leak: secret field Config.Key reaches panic`
}

// Buffers keep data in memory; writing the buffer out leaks.
func buffers(c *Config) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%x", c.Key) // in memory: fine
	os.Stdout.Write(b.Bytes())   // want `direct leak: secret field Config.Key reaches standard output \(os.\(\*File\).Write\)`
	var pub bytes.Buffer
	fmt.Fprintf(&pub, "%s", c.Name)
	os.Stdout.Write(pub.Bytes()) // public
}

// Interprocedural: a helper that prints its argument.
func show(v any) {
	fmt.Println(v)
}

func interproc(c *Config) {
	show(c.Name) // public
	show(c.Key)  // want `direct leak: secret field Config.Key reaches standard output \(fmt.Println\) via show\(v\)`
}

// Suppressions.
func suppressed(c *Config) {
	fmt.Println(c.Key) //confide:ignore test fixture prints a fake key
	//confide:ignore the next line is fine
	fmt.Println(c.Key)
	// want +1 `annotation: //confide:ignore needs a reason`
	//confide:ignore
	fmt.Println(c.Key) // want `direct leak: secret field Config.Key`
}
