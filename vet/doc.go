// Package vet is confide's leak checker: a static analysis that finds
// the two ways enclave code gives away what the TEE protects.
//
//   - A direct leak: a secret reaches output that leaves the enclave
//     (standard output, logs, files, the network, an HTTP response, a
//     panic, the results of an ECALL or RPC handler) without passing
//     through a declassifier (encryption, sealing, a MAC or hash meant to
//     be published, an attested TLS connection).
//   - An indirect leak: inside a function marked oblivious, control flow,
//     a memory access, or the timing of an operation depends on a secret,
//     so that an attacker who watches the memory bus, page faults, caches
//     or timing — which the TEE does not hide — learns it.
//
// It runs as `confide vet [packages]`, or as `go vet
// -vettool=$(command -v confide) [packages]`, on any Go module; the
// Analyzer can also be used by any driver of golang.org/x/tools/go/analysis.
//
// # Annotations
//
// Annotations are directive comments: `//confide:` with no space, on a
// line of its own in a doc comment or at the end of a line.
//
//	//confide:secret p1 p2 …
//
// In a function's doc comment: parameters p1, p2 … are secret. A method's
// receiver is named by its name; a variadic parameter covers all its
// elements. A name may also be a named result, which makes that result
// secret. Alone (`//confide:secret`), it makes the function's results
// secret, except results of type error, which become secret only through
// flow (an error built from a secret). As the doc or line comment of a
// struct field (embedded fields included), of a variable or of a constant
// (each spec of a grouped declaration by its own comment), or as the line
// comment of a short variable declaration (`k := derive() //confide:secret`),
// it marks that field, variable or constant secret. Loads of a secret
// field are secret whatever was stored in it; a value whose type contains
// a secret field (directly or through pointers, slices, arrays and maps)
// is secret where it reaches a sink as a whole (fmt.Println(cfg)) or is
// compared as a whole.
//
//	//confide:declassify
//
// The function's results are public whatever its arguments (encryption,
// sealing, MACs and hashes meant to be published).
//
//	//confide:sink
//
// The function's arguments leave the enclave (a call to the host).
//
//	//confide:boundary
//
// The function's results leave the enclave (ECALL and RPC handlers): a
// secret, or an error built from one, returned from it is a direct leak.
//
//	//confide:oblivious
//
// Inside the function, nothing may depend on a secret in a branch or loop
// condition, a switch, an operand of && or ||, a slice, array, map or
// string index, the divisor of an integer / or %, a slice bound, a shift
// count, an == or != on strings, arrays or structs (the compiler emits an
// early-exit comparison), an operand of the integer min and max builtins,
// a make size, an append size, a select, a conversion between a float and
// uint64, uint or uintptr (amd64 has no instruction for it: the compiler
// branches on whether the value reaches 2^63; convert through int64), the
// divisor of a floating-point division (but see float-division below), or
// in an argument of a call whose
// callee lets that argument reach any of these. Ranging over a secret
// integer is a loop condition; ranging over a secret string decodes UTF-8
// with branches; ranging over a map of secrets depends on its keys.
// Closures defined in an oblivious function are oblivious too.
//
//	//confide:oblivious float-division
//
// The same, except that a floating-point division by a secret is
// accepted (by default it is a finding: a divisor's value can change a
// division's latency on some CPUs). This states the function's threat
// model: an attacker who sees its memory-access and branch trace, not its
// timing — which a division by a secret never changes, since it touches
// no memory. Integer division by a secret stays a finding. The ML
// trainers' oblivious code uses it (ml/obl); closures inherit it.
//
//	//confide:ignore reason
//
// On the line of a finding or the line above, suppresses it. The reason is
// required: a suppression without one is itself reported and suppresses
// nothing. Misuses of the grammar cannot be suppressed. `confide vet
// -suppressions` lists every suppression.
//
// Interface methods may carry any of these on the interface declaration;
// `//confide:secret name` there names the method's parameters or results.
// Calls through the interface use the declaration (secret results,
// declassified results, sink arguments, obliviousness). Every method of
// the analysed packages that implements an annotated method is checked
// against it: parameters named secret are secret in the implementation; a
// boundary method's implementations must not return secrets; an oblivious
// method's implementations are checked as oblivious functions whose
// parameters are all secret (callers through the interface may pass
// secrets; the receiver is secret where its fields are annotated). A
// closure or method value is checked where it is defined: its captured
// variables (and a method value's receiver) against what its body does
// with them, in the obliviousness of the enclosing function, and what it
// writes into them takes effect there; when it is passed to an oblivious
// function, which calls it on its data, its parameters are checked as
// secret.
//
// Directives that are misplaced, name no parameter or result, or are
// unknown are reported ("annotation: …").
//
// # Analysis
//
// Each package is analysed once, in SSA form (golang.org/x/tools/go/ssa,
// built with debug information so that every expression's value is
// known), after its dependencies. Taint — a secret's origin, and which
// parameters (or fields of what a parameter points to) a value depends on
// — flows through assignments, arithmetic, conversions, φ-nodes, struct
// fields, array and slice elements, maps, channels, interfaces, closures'
// captured variables, returns and calls. Memory is modelled in the style
// of Steensgaard's analysis, which keeps it near-linear: every value that
// may hold a pointer denotes one abstract object (an allocation site, what
// a parameter, package variable or call result points to), and objects a
// value may denote together are merged. Objects have sub-objects per
// struct field, four levels deep, so that a secret stored into one field
// does not taint the others, and a pointee, what the pointers stored in
// them point to; elements of slices, arrays, maps and channels share their
// container's object. Within a function the analysis iterates to a fixed
// point; memory effects are flow-insensitive.
//
// Calls are checked by summaries, not by trusting annotations: each
// function's summary records, for each parameter's value, for what it
// points to, and for each field of that, which results it flows to, into
// what other parameters point to (by access path) it is stored, whether it
// reaches a sink (with the path to it), and which of the dependences above
// it reaches, and whether inside an oblivious function; for each result,
// whether it always carries a secret. So a call that passes a struct whose
// secret field was set is checked only against what the callee does with
// that field, and a callee that compares a pointer with nil does not
// depend on what it points to. Summaries are exported as analysis facts,
// so flows cross packages; within a package, functions are analysed
// callees first by strongly connected component of the call graph, and
// recursive components iterate to a fixed point. A call that passes a
// secret to a parameter that reaches a sink is a direct leak at the call;
// one that passes it to a parameter that reaches a dependence is an
// indirect leak at the call when the caller is oblivious, or when the
// dependence is inside an oblivious function (a helper marked oblivious
// that indexes by its parameter may not be called with a secret index from
// anywhere). A function reports, itself, the leaks of its own secret
// parameters and of the secret fields it reads; its callers do not report
// them again. Secret struct fields, package variables and constants are
// exported as facts too; a package variable that is assigned a secret
// becomes secret for every function that reads it.
//
// # Built-in summaries
//
// The standard library is not analysed (its packages get no facts); these
// summaries stand in for it. Every standard function not listed
// propagates all its arguments to all its results (its error included: an
// error can quote its input); a method writes them into its receiver, a
// function into its pointer, map and channel arguments, and either into
// arguments of type any (decoders' destinations) and slices named as
// destinations (dst, dest, buf, out) or passed to Read…, Put…, Encode…,
// Decode…, Encrypt…, Decrypt…, Fill…, XORKeyStream and CryptBlocks; it
// reaches no sink; and it is not known to be oblivious, so passing it a
// secret inside an oblivious function is an indirect leak. (fmt.Sprint…,
// fmt.Errorf, strings, bytes, strconv, io, encoding/… are all such
// propagators.) Calls through function values and through interface
// methods without annotations, and functions without a Go body, are
// treated the same way. So are go-jose's JSON entry points
// (JSONWebKey.MarshalJSON and UnmarshalJSON, its json.Marshal and
// Unmarshal): its codec, a fork of encoding/json, reports errors by
// panicking and recovering within one call, which the checker, not
// modelling recover, would otherwise report as secrets reaching a panic.
//
// Sinks: fmt.Print, Printf, Println; log's functions and *log.Logger's
// methods (Print…, Fatal…, Panic…, Output); log/slog's functions and
// *slog.Logger's methods (Debug, Info, Warn, Error, Log, LogAttrs and their
// …Context forms); os.WriteFile; syscall.Write, Pwrite, Sendto, Sendmsg;
// writes to net connections ((*net.UDPConn).WriteTo… and the like,
// net.PacketConn.WriteTo); http.Error; the builtins print and println;
// panic; the results of boundary functions; the arguments of sink
// functions.
//
// Writers: fmt.Fprint, Fprintf, Fprintln, io.WriteString, io.Copy…,
// encoding/binary.Write, encoding/pem.Encode, the Write methods of
// io.Writer, io.StringWriter, io.ByteWriter, io.WriterAt, io.ReaderFrom,
// net.Conn, http.ResponseWriter, *os.File, *tls.Conn and *bufio.Writer,
// the Encode methods of json, gob and xml encoders and csv writers, and
// WriteTo methods, are classified by where the writer comes from, followed
// through its definition in the function: an in-memory buffer
// (*bytes.Buffer, *strings.Builder, bytes.NewBuffer) keeps the data in
// the enclave (it taints the buffer); a hash or MAC (hash.Hash, sha256.New,
// hmac.New, …) declassifies; a *tls.Conn made by tls.Client, Server, Dial
// or DialWithDialer with a configuration from confide's attested TLS
// ((*atls.Config).ClientConfig or ServerConfig) is encrypted to an attested
// peer and is no sink; bufio writers, encoders and compressors write where
// the writer they wrap writes; a concrete type with a Write method is
// checked by that method's summary; os.Stdout and os.Stderr, files,
// network connections, TLS connections not known to be attested,
// http.ResponseWriter and every io.Writer of unknown dynamic type
// (a parameter, a field) are sinks.
//
// Declassifiers (results public): cipher.AEAD's Seal (its result is its
// dst argument), hash.Hash's Sum (its b argument), Sum32 and Sum64,
// hmac.New and hmac.Equal, sha256.Sum256 and Sum224, sha512.Sum…,
// sha1.Sum, md5.Sum, sha3.Sum… (hash writes are no sink); signatures and
// public-key encryption (ecdsa.Sign, SignASN1, ed25519.Sign, rsa.Sign…,
// rsa.Encrypt…, the Sign methods of private keys and crypto.Signer,
// x509.CreateCertificate, CreateCertificateRequest, CreateRevocationList);
// confide's (*seal.Sealer).Seal. Confide's (*seal.Sealer).Unseal returns
// secrets.
//
// The oblivious allow-list (constant-time: no indirect leak when passed a
// secret): crypto/subtle; math.Float64bits, Float64frombits, Float32bits,
// Float32frombits, Abs, Copysign and Sqrt (one instruction, SQRTSD: no
// branch, no memory access; its latency is fixed for normal operands on
// current x86 cores, and only subnormal ones may differ); math/bits except Div, Div32, Div64,
// Rem, Rem32 and Rem64; encoding/binary's fixed-width byte orders
// (Uint16…64, PutUint… and AppendUint… of LittleEndian, BigEndian and
// NativeEndian); and the declassifiers and cipher.AEAD's Open.
//
// # Platform model
//
// Lengths are public: len and cap of a slice, string or map of secrets are
// public (allocation sizes and trace lengths are visible to the host
// anyway, and oblivious code fixes them by public parameters). A length
// becomes secret only by slicing with a secret bound, or making with a
// secret size — both indirect leaks in oblivious code — and that length
// taint is followed within the function (to len, loop bounds, append
// sizes), not through calls or memory. The dynamic type of an interface
// holding a secret is public; comparing a secret integer or pointer with
// == compiles to a flag-setting instruction, not a branch, and is allowed
// in oblivious code (branching on the result is not). Integer / and % are
// variable-time in their divisor, and so, on some CPUs, is floating-point
// division (accepted under float-division); other floating-point
// arithmetic is treated as constant-time.
//
// # Soundness
//
// The checker aims to report every leak in the code it sees, given
// correct annotations, and to err towards reporting. It does not see, and
// treats as follows:
//
//   - Reflection: reflect's functions are standard functions, so values
//     flow from arguments to results, but reads and writes through
//     reflect.Value (Set, Field, Index, Interface) are not followed into
//     the objects they reach.
//   - unsafe: unsafe.Pointer conversions, unsafe.Slice, unsafe.Add and
//     arithmetic on uintptr keep the objects a pointer may point to, but
//     a pointer rebuilt from an integer that did not come from a pointer
//     points to nothing the analysis knows, so what is stored through it
//     is lost. Code such as oblivious.CondSwap, which views records as
//     machine words, must be audited by hand.
//   - Assembly and functions without a Go body: summarized as unknown —
//     all arguments flow to all results and into pointer arguments, no
//     sink, not oblivious (so calling one with a secret from oblivious code
//     is reported).
//   - cgo: calls to C are calls to functions without a Go body (above);
//     what C code writes out is not seen.
//   - Unknown external functions: calls through function values and
//     through interface methods without annotations, and standard functions
//     without a built-in summary, propagate conservatively (above) and
//     reach no sink. An implementation called through an unannotated
//     interface is not checked at the call: annotate the interface. What
//     an implementation called through an annotated interface stores into
//     its receiver is not followed.
//   - Goroutines and channels: a go statement is analysed as a call; a
//     channel is an object whose contents are everything sent on it; memory
//     shared between goroutines is covered by the flow-insensitive memory
//     model. Timing and scheduling side channels between goroutines are not
//     modelled.
//   - Maps: a map is an object holding every key and value stored in it;
//     indexing with a secret key, deleting it, or ranging over a map of
//     secrets in oblivious code is an indirect leak.
//   - Package variables: a secret stored into a package variable makes it
//     secret for the package and, through facts, for its importers; a
//     callee in another package that stores its parameter into one of its
//     own package's variables is not followed back into that package.
//   - Constants: SSA has no identity for constants, so every constant
//     operand equal to a secret constant, in a function that names that
//     constant, is treated as secret.
//   - Generics: generic functions are analysed once, on their type
//     parameters; checks that depend on the type (string or struct ==)
//     apply only where the type is known. Implementations of generic
//     interfaces, and generic types implementing annotated interfaces, are
//     not checked against annotations.
//   - Test files (_test.go) are analysed for facts but not reported on:
//     tests are not enclave code.
//   - Secret fields are secret by their type: a store into one is not
//     tracked (its loads are secret whatever it holds), and a callee that
//     is passed a struct reads the field, and reports, itself. A whole
//     value holding a secret field is secret where it is converted to an
//     interface (fmt.Println(cfg)) or compared.
//   - Precision is bounded — four levels of fields, one object per
//     allocation site, objects merged when a value may denote several,
//     four access paths per object in summaries (beyond, a store counts
//     for everything its parameter reaches), 63 dependence labels per
//     function (beyond, fields share their parameter's) — which can only
//     add findings.
//
// Declassification is trusted: the checker cannot tell whether a function
// marked //confide:declassify really encrypts, nor whether a connection
// classified as attested verified the policy the data's owner wants.
//
// # Output
//
// `confide vet` prints findings in go vet's form,
//
//	file:line:col: direct leak: secret <origin> reaches <sink> [via <path>]
//	file:line:col: indirect leak: secret <origin> used as <use> in oblivious function <f> [via <path>]
//
// naming the secret's origin ("parameter key of Derive", "field
// Config.Key", "result of seal.(*Sealer).Unseal") and, for flows through
// calls, the path from the call to the sink or use ("logKey(k) →
// standard output (fmt.Println) at log.go:12"). Findings are reported at
// the use, the sink, or the call that passes the secret on. -json prints
// go vet's JSON ({"package": {"confide": [{"posn", "message",
// "category"}]}}), where category is direct-leak, indirect-leak or
// annotation; -sarif FILE also writes a SARIF 2.1.0 log with those three
// rules, for code-scanning tools. The exit status is non-zero when anything
// is reported, and zero otherwise.
//
// Because it runs as a go vet tool, go caches each package's facts and
// findings, keyed by the tool's binary and the package's inputs: a second
// run over unchanged packages reads the cache. Set CONFIDE_VET_DEBUG=1 in
// the environment to print every function's summary, or to a function's
// name to print its solved SSA, when a finding needs explaining.
package vet
