// The full Baileys client (makeWASocket) against the fake edge, one JSON object per stdout line.
//
// How Baileys is pointed at the fake edge, in this process only:
//   * `waWebSocketUrl` is a documented option: ws://127.0.0.1:<port>/ws/chat;
//   * the Noise root: Baileys checks the intermediate certificate against the exported, mutable
//     `WA_CERT_DETAILS.PUBLIC_KEY` (lib/Defaults); we overwrite it with the fake edge's TEST root before
//     the first socket is made (there is no option for it). Nothing on disk is patched.
//
// stdin, first line: {"url", "root": hex, "version": [a,b,c], "mode": "pair" | "fleet", "creds": [...]}
//   pair:  fresh credentials; prints {"qr": text} per QR code, {"creds": {...}} after pairing,
//          {"close": code} per closed socket (515 → it reconnects at once, as apps do), {"open": {...}}
//   fleet: one socket per pre-linked credential in "creds", logged in one after the other (the first
//          is a warm-up, open before the baseline is taken); once all are open and settled it prints
//          {"ready": {rss, heapUsed, baselineRss, count, loginCpuMs}} (run node with --expose-gc)
// later lines: {"end": true} closes every socket and exits; {"measure": true} prints {"measured": {...}}.
import { Browsers } from '@whiskeysockets/baileys/lib/Utils/browser-utils.js'
import { initAuthCreds } from '@whiskeysockets/baileys/lib/Utils/auth-utils.js'
import { WA_CERT_DETAILS } from '@whiskeysockets/baileys/lib/Defaults/index.js'
import { proto } from '@whiskeysockets/baileys/WAProto/index.js'
import makeWASocket from '@whiskeysockets/baileys/lib/Socket/index.js'
import * as libsignalCurve from 'libsignal/src/curve.js'
import P from 'pino'
import readline from 'node:readline'

const logger = P({ level: process.env.BAILEYS_LOG || 'silent' })
const out = (message) => process.stdout.write(JSON.stringify(message) + '\n')
const hex = (text) => Buffer.from(text, 'hex')
const toHex = (bytes) => Buffer.from(bytes).toString('hex')

const lines = readline.createInterface({ input: process.stdin })
const iterator = lines[Symbol.asyncIterator]()
const config = JSON.parse((await iterator.next()).value)
WA_CERT_DETAILS.PUBLIC_KEY = hex(config.root)

function memoryKeys() {
	const data = {}
	return {
		get: async (type, ids) => Object.fromEntries(ids.filter((id) => data[`${type}/${id}`] !== undefined).map((id) => [id, data[`${type}/${id}`]])),
		set: async (changes) => {
			for (const [type, values] of Object.entries(changes)) {
				for (const [id, value] of Object.entries(values)) {
					if (value === null || value === undefined) delete data[`${type}/${id}`]
					else data[`${type}/${id}`] = value
				}
			}
		}
	}
}

const pairOf = (privateHex) => {
	const privateKey = hex(privateHex)
	return { private: privateKey, public: Buffer.from(libsignalCurve.getPublicFromPrivateKey(privateKey)).subarray(1) }
}

/** Baileys credentials from a pre-linked record made by the Python side (same fields as ours). */
function linkedCreds(record) {
	const creds = initAuthCreds()
	const identity = pairOf(record.identity)
	Object.assign(creds, {
		noiseKey: pairOf(record.noise),
		signedIdentityKey: identity,
		signedPreKey: { keyId: record.signedPreKey.id, keyPair: pairOf(record.signedPreKey.private), signature: hex(record.signedPreKey.signature) },
		registrationId: record.registrationId,
		advSecretKey: Buffer.from(hex(record.advSecret)).toString('base64'),
		me: { id: record.jid, lid: record.lid, name: '~' },
		account: proto.ADVSignedDeviceIdentity.decode(hex(record.account)),
		platform: 'android',
		nextPreKeyId: 101,
		firstUnuploadedPreKeyId: 101,
		registered: true
	})
	return creds
}

const sockets = new Set()

function start(creds, keys, onEvent) {
	const sock = makeWASocket({
		waWebSocketUrl: config.url,
		version: config.version,
		auth: { creds, keys },
		logger,
		browser: Browsers.macOS('Chrome'),
		fireInitQueries: false,
		markOnlineOnConnect: false,
		syncFullHistory: false,
		shouldSyncHistoryMessage: () => false,
		keepAliveIntervalMs: 30000
	})
	sockets.add(sock)
	sock.ev.on('connection.update', (update) => {
		if (update.qr) onEvent({ qr: update.qr })
		if (update.connection === 'open') onEvent({ open: { me: creds.me } })
		if (update.connection === 'close') {
			sockets.delete(sock)
			const code = update.lastDisconnect?.error?.output?.statusCode ?? null
			onEvent({ close: code, message: update.lastDisconnect?.error?.message ?? '' })
			if (code === 515) start(creds, keys, onEvent)
		}
	})
	return sock
}

function usage(baseline) {
	globalThis.gc?.()
	const memory = process.memoryUsage()
	const cpu = process.cpuUsage()
	return { rss: memory.rss, heapUsed: memory.heapUsed, cpuUserMs: cpu.user / 1000, cpuSystemMs: cpu.system / 1000, baselineRss: baseline }
}

if (config.mode === 'pair') {
	const creds = initAuthCreds()
	let paired = false
	start(creds, memoryKeys(), (event) => {
		if (event.open || (event.close === 515 && !paired)) {
			paired = true
			out({ creds: { me: creds.me, noise: toHex(creds.noiseKey.public), identity: toHex(creds.signedIdentityKey.public), platform: creds.platform ?? null } })
		}
		out(event)
	})
} else {
	// The first credential warms the process up (lazy imports, caches) and stays open in the baseline.
	const openOne = (record) =>
		new Promise((resolve) => {
			start(linkedCreds(record), memoryKeys(), (event) => {
				if (event.open) resolve(true)
				else if (event.close !== undefined && event.close !== 515) {
					out({ failed: event })
					resolve(false)
				}
			})
		})
	const [warm, ...rest] = config.creds
	await openOne(warm)
	await new Promise((resolve) => setTimeout(resolve, 300))
	globalThis.gc?.()
	const baseline = process.memoryUsage().rss
	const cpuBefore = process.cpuUsage()
	let open = 0
	for (const record of rest) if (await openOne(record)) open += 1
	const cpu = process.cpuUsage(cpuBefore)
	await new Promise((resolve) => setTimeout(resolve, config.settleMs ?? 2000))
	out({ ready: { ...usage(baseline), count: open, loginCpuMs: (cpu.user + cpu.system) / 1000 } })
}

for await (const line of iterator) {
	const command = JSON.parse(line)
	if (command.measure) out({ measured: usage(null) })
	if (command.end) break
}
for (const sock of sockets) sock.end(undefined)
setTimeout(() => process.exit(0), 200)
