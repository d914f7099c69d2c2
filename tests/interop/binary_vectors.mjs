// Binary-node vectors made by Baileys itself: seeded random and realistic stanzas, as {node, hex}.
// usage: node binary_vectors.mjs [seed] [count]
// stdout: {"baileys": version, "vectors": [{"node": json, "hex": encodeBinaryNode(node), "deflated"?}]}
//
// Every vector is canonical for Baileys: decode(encode(n)) re-encodes to the same bytes, and `node` is
// what Baileys decodes (strings stay strings; raw text content comes back as bytes).
import { createRequire } from 'module'
import { deflateSync } from 'zlib'
import * as constants from '@whiskeysockets/baileys/lib/WABinary/constants.js'
import { decodeDecompressedBinaryNode } from '@whiskeysockets/baileys/lib/WABinary/decode.js'
import { encodeBinaryNode } from '@whiskeysockets/baileys/lib/WABinary/encode.js'
import { toJson } from './binary_json.mjs'

const seed = Number(process.argv[2] ?? 20240601)
const count = Number(process.argv[3] ?? 320)

// mulberry32: tiny, seedable, good enough to spread test cases.
let state = seed >>> 0
const rand = () => {
	state = (state + 0x6d2b79f5) >>> 0
	let t = state
	t = Math.imul(t ^ (t >>> 15), t | 1)
	t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
	return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1))
const pick = (items) => items[int(0, items.length - 1)]
const chance = (p) => rand() < p
const repeat = (n, fn) => Array.from({ length: n }, fn)

// Baileys looks strings up in a plain object, so Object.prototype's names ("constructor", ...) hit
// inherited members and are written as byte 0. Real stanzas never use them; keep them out.
const PROTO_NAMES = new Set(Object.getOwnPropertyNames(Object.prototype))
const SINGLE = constants.SINGLE_BYTE_TOKENS.slice(1)
const DOUBLE = constants.DOUBLE_BYTE_TOKENS.flat()
const WORDY_TOKENS = [...SINGLE, ...DOUBLE].filter((t) => /^[a-z][a-z0-9.-]*$/.test(t))

const digits = (n) => String(int(1, 9)) + repeat(n - 1, () => String(int(0, 9))).join('')
const fromAlphabet = (alphabet, n) => repeat(n, () => pick(alphabet)).join('')
const TEXT_ALPHABET = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.:/+=,;!?'].concat([
	'é', 'ß', 'ñ', 'ü', '日', '本', 'Ж', '€', '🙂', '👍🏽', '\n', '\t', '"', "'", '\\'
])
const text = (n = int(1, 40)) => {
	const t = fromAlphabet(TEXT_ALPHABET, n)
	return PROTO_NAMES.has(t) ? text(n) : t
}
const nibble = (n = int(1, 127)) => fromAlphabet([...'0123456789-.'], n)
const hex = (n = int(1, 127)) => fromAlphabet([...'0123456789ABCDEF'], n)
const lowerHex = () => fromAlphabet([...'0123456789abcdef'], int(2, 60)) + 'a'
const word = () => fromAlphabet([...'abcdefghijklmnopqrstuvwxyz'], int(3, 12))

const JID_KINDS = [
	() => `${digits(int(8, 15))}@s.whatsapp.net`,
	() => `${digits(int(8, 15))}:${int(1, 99)}@s.whatsapp.net`,
	() => `${digits(12)}:255@s.whatsapp.net`,
	() => `${digits(15)}@lid`,
	() => `${digits(15)}:${int(1, 99)}@lid`,
	() => `${digits(12)}:${int(1, 99)}@hosted`,
	() => `${digits(15)}:${int(1, 99)}@hosted.lid`,
	() => `${digits(12)}@hosted`,
	() => `${digits(15)}@hosted.lid`,
	() => `120363${digits(12)}@g.us`,
	() => `${digits(11)}-${digits(10)}@g.us`,
	() => 'status@broadcast',
	() => `${digits(10)}@broadcast`,
	() => `${digits(18)}@newsletter`,
	() => `1313555${digits(4)}@bot`,
	() => pick(['0@c.us', 'server@c.us', '16505361212@c.us']),
	() => pick(['@s.whatsapp.net', '@g.us', '@lid', '@broadcast', '@c.us', '@call']),
	() => `${word()}@${pick(['example.com', 's.whatsapp.net', 'c.us'])}`,
	() => `${hex(int(4, 20))}@s.whatsapp.net`,
	() => `${hex(int(4, 20))}:${int(1, 20)}@lid`,
	() => `${pick(WORDY_TOKENS)}@${pick(['broadcast', 'g.us', 'c.us'])}`,
	() => `:${int(1, 9)}@s.whatsapp.net`
]
const jid = () => pick(JID_KINDS)()

const VALUE_KINDS = [
	[20, () => pick(SINGLE)],
	[14, () => pick(DOUBLE)],
	[16, () => text()],
	[10, () => nibble(chance(0.8) ? int(1, 20) : int(1, 127))],
	[3, () => nibble(int(128, 200))],
	[7, () => hex(chance(0.8) ? int(1, 20) : int(1, 127))],
	[3, () => lowerHex()],
	[24, () => jid()],
	[2, () => ''],
	[1, () => text(int(256, 400))]
]
const TOTAL_WEIGHT = VALUE_KINDS.reduce((sum, [w]) => sum + w, 0)
const value = () => {
	let roll = rand() * TOTAL_WEIGHT
	for (const [weight, make] of VALUE_KINDS) {
		if ((roll -= weight) < 0) return make()
	}
	return text()
}

const key = () => (chance(0.6) ? pick(WORDY_TOKENS) : chance(0.5) ? word() : text(int(1, 10)))
const tag = () => (chance(0.7) ? pick(WORDY_TOKENS) : chance(0.5) ? word() : text(int(1, 12)))
const bytes = (n) => Buffer.from(repeat(n, () => int(0, 255)))

const randomNode = (depth = 0) => {
	const attrs = {}
	for (let i = int(0, chance(0.9) ? 5 : 20); i > 0; i--) attrs[key()] = value()
	const node = { tag: tag(), attrs }
	const roll = rand()
	if (roll < 0.3) return node
	if (roll < 0.6 && depth < 4) node.content = repeat(int(0, 5), () => randomNode(depth + 1))
	else if (roll < 0.8) node.content = bytes(chance(0.9) ? int(0, 300) : int(256, 70000))
	else node.content = value()
	return node
}

// Realistic stanzas: the shapes the engine will send and receive.
const realistic = () => {
	const me = `${digits(12)}:${int(1, 40)}@s.whatsapp.net`
	const peer = `${digits(12)}@s.whatsapp.net`
	const enc = (type) => ({ tag: 'enc', attrs: { v: '2', type }, content: bytes(int(120, 400)) })
	return [
		{ tag: 'iq', attrs: { id: `${int(1000, 9999)}.${int(1000, 9999)}-1`, to: '@s.whatsapp.net', type: 'get', xmlns: 'w:p' }, content: [{ tag: 'ping', attrs: {} }] },
		{
			tag: 'message',
			attrs: { id: '3EB0' + hex(18), to: peer, type: 'text', t: String(1700000000 + int(0, 1e6)) },
			content: [
				{ tag: 'participants', attrs: {}, content: [1, 3, 7].map((d) => ({ tag: 'to', attrs: { jid: `${peer.split('@')[0]}:${d}@s.whatsapp.net` }, content: [enc(d === 1 ? 'pkmsg' : 'msg')] })) },
				{ tag: 'device-identity', attrs: {}, content: bytes(150) }
			]
		},
		{ tag: 'message', attrs: { id: hex(20), to: `120363${digits(12)}@g.us`, type: 'text', addressing_mode: 'lid' }, content: [enc('skmsg')] },
		{ tag: 'receipt', attrs: { id: hex(20), to: peer, type: 'read', t: String(1700000000) }, content: [{ tag: 'list', attrs: {}, content: repeat(3, () => ({ tag: 'item', attrs: { id: hex(20) } })) }] },
		{ tag: 'ack', attrs: { id: hex(20), to: `${digits(15)}:${int(1, 9)}@lid`, class: 'receipt', participant: me } },
		{ tag: 'iq', attrs: { to: '@s.whatsapp.net', type: 'result', id: `${int(1, 99)}` } },
		{ tag: 'iq', attrs: { from: '@s.whatsapp.net', type: 'set', id: hex(8) }, content: [{ tag: 'pair-device', attrs: {}, content: repeat(6, () => ({ tag: 'ref', attrs: {}, content: Buffer.from(text(60).replace(/[^\x20-\x7e]/g, 'x')) })) }] },
		{ tag: 'iq', attrs: { to: '@s.whatsapp.net', type: 'set', xmlns: 'md', id: hex(8) }, content: [{ tag: 'link_code_companion_reg', attrs: { jid: peer, stage: 'companion_hello', should_show_push_notification: 'true' }, content: [{ tag: 'link_code_pairing_wrapped_companion_ephemeral_pub', attrs: {}, content: bytes(80) }, { tag: 'companion_server_auth_key_pub', attrs: {}, content: bytes(32) }, { tag: 'companion_platform_id', attrs: {}, content: '49' }, { tag: 'companion_platform_display', attrs: {}, content: 'Chrome (Mac OS)' }, { tag: 'link_code_pairing_nonce', attrs: {}, content: '0' }] }] },
		{ tag: 'iq', attrs: { xmlns: 'encrypt', type: 'set', to: '@s.whatsapp.net', id: hex(8) }, content: [{ tag: 'registration', attrs: {}, content: bytes(4) }, { tag: 'type', attrs: {}, content: Buffer.from([5]) }, { tag: 'identity', attrs: {}, content: bytes(32) }, { tag: 'list', attrs: {}, content: repeat(30, () => ({ tag: 'key', attrs: {}, content: [{ tag: 'id', attrs: {}, content: bytes(3) }, { tag: 'value', attrs: {}, content: bytes(32) }] })) }, { tag: 'skey', attrs: {}, content: [{ tag: 'id', attrs: {}, content: bytes(3) }, { tag: 'value', attrs: {}, content: bytes(32) }, { tag: 'signature', attrs: {}, content: bytes(64) }] }] },
		{ tag: 'iq', attrs: { to: '@s.whatsapp.net', type: 'get', xmlns: 'usync', id: hex(8) }, content: [{ tag: 'usync', attrs: { sid: hex(10), mode: 'query', last: 'true', index: '0', context: 'message' }, content: [{ tag: 'query', attrs: {}, content: [{ tag: 'devices', attrs: { version: '2' } }] }, { tag: 'list', attrs: {}, content: repeat(4, () => ({ tag: 'user', attrs: { jid: `${digits(12)}@s.whatsapp.net` } })) }] }] },
		{ tag: 'success', attrs: { t: String(1700000000), props: '3', abprops: '12', location: 'frc', lid: `${digits(15)}@lid`, display_name: 'Zoë ✨', creation: String(1600000000) } },
		{ tag: 'failure', attrs: { reason: '401', location: 'frc' } },
		{ tag: 'stream:error', attrs: { code: '515' } },
		{ tag: 'xmlstreamend', attrs: {} },
		{ tag: 'notification', attrs: { from: `120363${digits(12)}@g.us`, type: 'w:gp2', id: digits(10), participant: `${digits(15)}@lid`, participant_pn: peer, t: '1700000000', addressing_mode: 'lid' }, content: [{ tag: 'add', attrs: { reason: 'invite' }, content: [{ tag: 'participant', attrs: { jid: `${digits(15)}@lid`, phone_number: peer } }] }] }
	]
}

// Boundaries the encoder must hit exactly: lengths 8/20/32 bits, list 8/16, packed 127 vs 128.
const boundaries = () => [
	{ tag: 'b', attrs: {}, content: bytes(255) },
	{ tag: 'b', attrs: {}, content: bytes(256) },
	{ tag: 'b', attrs: {}, content: bytes((1 << 20) - 1) },
	{ tag: 'b', attrs: {}, content: bytes(1 << 20) },
	{ tag: 's', attrs: { v: text(255).slice(0, 255), w: 'y'.repeat(255), x: 'z'.repeat(256) } },
	{ tag: 's', attrs: { huge: 'ab'.repeat(1 << 19) + 'é'.repeat(500) } },
	{ tag: 'p', attrs: { a: nibble(127), b: nibble(128), c: hex(127), d: hex(128), e: nibble(126), f: hex(1), g: '1', h: '-.' } },
	{ tag: 'wide', attrs: Object.fromEntries(repeat(130, (_, i) => [`k${i}`, value()])) },
	{ tag: 'many', attrs: {}, content: repeat(300, (_, i) => ({ tag: 'i', attrs: { n: String(i) } })) },
	{ tag: 'empty', attrs: {}, content: [] },
	{ tag: 'nobytes', attrs: {}, content: Buffer.alloc(0) },
	{ tag: 'deep', attrs: {}, content: [{ tag: 'a', attrs: {}, content: [{ tag: 'b', attrs: {}, content: [{ tag: 'c', attrs: {}, content: [{ tag: 'd', attrs: {}, content: [{ tag: 'e', attrs: {}, content: 'e' }] }] }] }] }] }
]

const vectors = []
const nodes = [...realistic(), ...boundaries(), ...repeat(count, () => randomNode())]
nodes.forEach((node, index) => {
	const first = encodeBinaryNode(node)
	const decoded = decodeDecompressedBinaryNode(first.subarray(1), constants)
	const again = encodeBinaryNode(decoded)
	if (!first.equals(again)) {
		throw new Error(`vector ${index} is not canonical for Baileys: ${JSON.stringify(toJson(node)).slice(0, 500)}`)
	}
	const vector = { node: toJson(decoded), hex: again.toString('hex') }
	if (index % 10 === 0) vector.deflated = '02' + deflateSync(again.subarray(1)).toString('hex')
	vectors.push(vector)
})

const require = createRequire(import.meta.url)
const { version } = require('@whiskeysockets/baileys/package.json')
process.stdout.write(JSON.stringify({ baileys: version, seed, vectors }))
