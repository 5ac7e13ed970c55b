// Package console is confide's web console: one face for every service,
// served by `confide dev` and by any deployment (`confide console serve`).
// Each page reads a running service through its API — the console keeps
// no data of its own but its sign-in sessions — and every action is an API
// call made with the signed-in user's own identity, so the services, not
// the console, decide what each user may do.
//
// # Sign-in and sessions
//
// Users sign in with a bearer token of the principals file the services
// use (the admin token `confide dev` prints). The token is checked against
// the principals (constant time), kept in the server's memory for the
// session and sent to the services on the user's behalf; it is never
// rendered or logged. The session cookie holds only a random ID
// (HttpOnly, SameSite=Strict, Secure over TLS), idles out after
// Config.SessionLifetime and ends at sign-out.
//
// # Requests that change something
//
// Every POST carries the session's CSRF token in a form field, compared in
// constant time, and must come from the console's own origin (Origin or
// Sec-Fetch-Site); the sign-in form, before any session, carries a token
// bound to a cookie of its own. A forged request is refused (403) before
// anything happens.
//
// # What the browser runs
//
// Pages are rendered on the server (html/template escapes everything);
// the only scripts are the console's own static files, under a strict
// Content-Security-Policy (no inline script or style, no other origin,
// no framing). Error pages say what failed in the request's terms and
// give a request ID; the details go to the server's log, never a secret.
package console
