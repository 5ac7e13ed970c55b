// Package decimal is exact DECIMAL(p, s) arithmetic as SQL Server defines
// it (spec/ae-decimal.md): result precision and scale of +, −, ×, /, SUM,
// AVG and ROUND, the reduction of scale above 38 digits, rounding half
// away from zero (division truncates), and overflow and division by zero
// as errors, never wrapped values.
//
// It is written for the SQL enclave, where the operands are secret: values
// live in fixed-width 384-bit integers and every operation on them is
// branch-free and takes time that depends only on the (public) types, not
// on the values (math/big is neither). Functions that touch values are
// marked //confide:oblivious and checked by `confide vet`. Only the
// outcome of an overflow or a division by zero becomes visible, as the
// error it is.
package decimal
