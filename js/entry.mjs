// What the voting page needs of @cloudflare/blindrsa-ts, as the global `pingyiBlindRSA`
// (server/voting/static/session.js): the RFC 9474 suite the server signs with.
export { RSABSSA } from '@cloudflare/blindrsa-ts';
