// Package pii masks personal data in the free-text fields of an access-log
// record before the record leaves the receiver (SPEC §2): e-mail addresses,
// payment card numbers, JWTs and secret-looking tokens in request paths, and
// e-mail addresses in user agents.
//
// Path masks whole units, never parts of them. A unit is a path segment
// (between slashes), and, when a segment carries path parameters
// ("/users;jsessionid=…") or the path carries a query string, each
// parameter name and each parameter value. A unit is judged percent-decoded
// ("%40" is "@"; in a query, "+" is a space), and when it qualifies the whole
// unit, as it was written, becomes a placeholder: {email}, {card}, {jwt} or
// {token}. Everything else, separators included, is copied byte for byte, so
// masking keeps the shape of the path, and masking a masked path changes
// nothing.
//
// The rules, in the order they are tried:
//   - email: the unit contains local@domain.tld (a whole-segment address as
//     SPEC §2 asks, and also one embedded in a segment, such as the Google
//     API style "jane@example.com:verify", because half an address is still
//     an address).
//   - card: 13 to 19 digits, single spaces or dashes allowed between them,
//     passing the Luhn check.
//   - jwt: three base64url parts joined by dots, the first decoding to a JSON
//     object with an "alg" member (a JWS compact serialization).
//   - token: 32 or more characters of the base64url alphabet (hex included,
//     "=" padding allowed at the end) with letters and digits, not a UUID,
//     that look random rather than written: at least half of its letters
//     and digits sit in dash- or underscore-separated runs that mix letters
//     with digits or change case inside. Random secrets pass (all those
//     with a digit, in TestRandomSecrets); slugs of words and numbers
//     ("nike-air-max-270-react-black-2023") and Kubernetes object names do
//     not.
//
// UUIDs, plain numeric ids (a 12-digit order number, a Luhn-invalid
// 16-digit one) and static asset names ("app.3f9a2b1c9d0e.js": the dot keeps
// a content hash from being a token) are kept.
//
// Query strings: the receiver drops them unless --keep-query; when one is
// kept, its parameter names and values are masked by the same rules, because
// an operator who asked for query strings did not thereby ask for the
// e-mail addresses and tokens they carry (--keep-pii is the flag for that).
//
// The common case costs no allocation: when nothing qualifies, Path and
// UserAgent return their argument itself. Units are decoded into a stack
// buffer; only a percent-encoded unit longer than 512 bytes, or a unit
// shaped like a JWT whose header decodes to a JSON object, is decoded on the
// heap.
//
// What it deliberately does not do: it does not decide whether masking is
// on (--keep-pii is the caller's), keep or log anything it sees, or touch
// metrics; callers pass a *Counts and export it as
// alsd_pii_masked_total{kind}. It imports the standard library only.
package pii
