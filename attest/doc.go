// Package attest turns evidence into trusted claims: it dispatches an
// evidence envelope to the verifier of its platform, checks freshness (the
// nonce at the start of the report data) and binding (the runtime-data hash
// in its second half), and appraises the claims against a policy.
//
// Policies use the JSON grammar of Azure Key Vault secure key release, so
// one grammar serves appraisal here and key release in the key broker:
//
//	{
//	  "version": "1.0.0",
//	  "allOf": [
//	    {"claim": "signer_id", "equals": "3f1c…"},
//	    {"claim": "product_id", "equals": 7},
//	    {"claim": "svn", "greaterOrEquals": 2},
//	    {"claim": "debug", "equals": false}
//	  ]
//	}
//
// Operators are equals, notEquals, less, lessOrEquals, greater,
// greaterOrEquals (numbers only) and exists (true or false). Groups nest.
// Parsing fails closed: unknown fields, operators and versions are errors.
//
// Simulated evidence is never accepted by accident: it passes a policy only
// when the conditions that make the policy pass include
// {"claim": "platform", "equals": "sim"}. Simulated evidence is also always
// debug, so {"claim": "debug", "equals": false} rejects it outright.
//
// Subpackage atls builds attested TLS on top of this package.
package attest
