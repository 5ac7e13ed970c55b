// Package financedemo is `confide demo finance`: a wealth manager's
// database — clients, their positions, the instruments' daily returns —
// with every sensitive column encrypted under an enclave-enabled key, and
// the analytics a wealth manager runs on it computed inside the SQL
// enclave through the ordinary driver: each client's portfolio value,
// exposure by sector, and a one-day historical value-at-risk per client.
// It prints the results and what a DBA sees of the same rows, and checks
// every figure against the same computation on the plaintext with the
// same exact decimal engine (package decimal).
package financedemo
