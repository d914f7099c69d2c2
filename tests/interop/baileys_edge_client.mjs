// The full Baileys client (makeWASocket) against the fake edge, one JSON object per stdout line.
//
// How Baileys is pointed at the fake edge, in this process only:
//   * `waWebSocketUrl` is a documented option: ws://127.0.0.1:<port>/ws/chat;
//   * the Noise root: Baileys checks the intermediate certificate against the exported, mutable
//     `WA_CERT_DETAILS.PUBLIC_KEY` (lib/Defaults); we overwrite it with the fake edge's TEST root before
//     the first socket is made (there is no option for it). Nothing on disk is patched.
//
// stdin, first line: {"url", "root": hex, "version": [a,b,c], "mode": "pair" | "peer" | "fleet", "creds": [...]}
//   pair:  fresh credentials; prints {"qr": text} per QR code, {"creds": {...}} after pairing,
//          {"close": code} per closed socket (515 → it reconnects at once, as apps do), {"open": {...}}
//   peer:  as pair, then a chat partner: prints {"message": {id, remoteJid, participant, fromMe, text,
//          quoted, key}} per message received, {"update": {id, remoteJid, status}} per status change of
//          a sent message (3 delivered, 4 read, 5 played), {"receipt": {id, remoteJid, userJid, kind}} per
//          group receipt; takes {"send": {"to", "text", "quoted"?: message}} → {"sent": {id}},
//          {"read": [key, ...]} → {"read": n}, {"groups": true} → {"groups": [{id, subject, size}]},
//          {"forgetSession": jid} → {"forgotten": jid} (its Signal session with that device is dropped),
//          {"sendMedia": {"to", "kind": image|document|audio, "hex", "caption"?, "fileName"?, "mimetype"?,
//          "ptt"?}} → {"sent": {id}} (Baileys uploads to the edge's media host); every attachment received
//          is downloaded and decrypted by Baileys and printed as {"media": {id, kind, sha256, length,
//          caption, fileName, mimetype, ptt}} (from the media host media_conn names: the message's own
//          url is WhatsApp's CDN, which a test never reaches)
//   fleet: one socket per pre-linked credential in "creds", logged in one after the other (the first
//          is a warm-up, open before the baseline is taken), each then sending a text to every jid in
//          "contacts" (if any); once all are done and settled it prints
//          {"ready": {rss, heapUsed, baselineRss, count, loginCpuMs}} (run node with --expose-gc)
// later lines: {"end": true} closes every socket and exits; {"measure": true} prints {"measured": {...}}.
import { Browsers } from '@whiskeysockets/baileys/lib/Utils/browser-utils.js'
import { downloadContentFromMessage } from '@whiskeysockets/baileys/lib/Utils/messages-media.js'
import { createHash } from 'node:crypto'
import { initAuthCreds } from '@whiskeysockets/baileys/lib/Utils/auth-utils.js'
import { WA_CERT_DETAILS } from '@whiskeysockets/baileys/lib/Defaults/index.js'
import { proto } from '@whiskeysockets/baileys/WAProto/index.js'
import makeWASocket from '@whiskeysockets/baileys/lib/Socket/index.js'
import * as libsignalCurve from 'libsignal/src/curve.js'
import P from 'pino'
import readline from 'node:readline'

// Logs never go to stdout (that is the JSON-lines channel): to BAILEYS_LOG_FILE, else stderr.
const logger = P({ level: process.env.BAILEYS_LOG || 'silent' }, P.destination(process.env.BAILEYS_LOG_FILE || 2))
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

/** Baileys credentials and a key store holding the device's published one-time prekeys. */
function seededKeys(record) {
	const keys = memoryKeys()
	const preKeys = Object.fromEntries(
		Object.entries(record.preKeys ?? {}).map(([id, pair]) => [id, { private: hex(pair).subarray(0, 32), public: hex(pair).subarray(32) }])
	)
	void keys.set({ 'pre-key': preKeys })
	return [linkedCreds(record), keys]
}

function start(creds, keys, onEvent, onSocket = () => {}, options = {}) {
	const sock = makeWASocket({
		...options,
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
	onSocket(sock)
	sock.ev.on('connection.update', (update) => {
		if (update.qr) onEvent({ qr: update.qr })
		if (update.connection === 'open') onEvent({ open: { me: creds.me } })
		if (update.connection === 'close') {
			sockets.delete(sock)
			const code = update.lastDisconnect?.error?.output?.statusCode ?? null
			onEvent({ close: code, message: update.lastDisconnect?.error?.message ?? '' })
			if (code === 515) start(creds, keys, onEvent, onSocket, options)
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

let peer = null // the live socket in peer mode
const sentById = new Map() // what the peer sent: Baileys' getMessage, to answer retry receipts

const textOf = (message) =>
	message?.conversation ?? message?.extendedTextMessage?.text ?? message?.imageMessage?.caption ?? null

function listen(sock) {
	peer = sock
	const receipt = (key, { userJid, readTimestamp }) =>
		out({ receipt: { id: key.id, remoteJid: key.remoteJid, userJid, kind: readTimestamp ? 'read' : 'delivered' } })
	sock.ev.on('messages.upsert', ({ messages }) => {
		for (const m of messages) {
			// Baileys folds receipts that arrive while its own message is still buffered into the message
			for (const userReceipt of m.userReceipt ?? []) receipt(m.key, userReceipt)
			if (!m.message) continue
			const quoted = m.message.extendedTextMessage?.contextInfo?.stanzaId ?? null
			out({ message: { id: m.key.id, remoteJid: m.key.remoteJid, participant: m.key.participant ?? null, fromMe: !!m.key.fromMe, text: textOf(m.message), quoted, key: m.key, raw: m.message } })
			if (!m.key.fromMe) downloadAttachment(sock, m).catch((error) => out({ error: String(error?.stack ?? error) }))
		}
	})
	sock.ev.on('messages.update', (updates) => {
		for (const { key, update } of updates) {
			if (update.status !== undefined) out({ update: { id: key.id, remoteJid: key.remoteJid, status: update.status } })
		}
	})
	sock.ev.on('message-receipt.update', (updates) => {
		for (const update of updates) receipt(update.key, update.receipt)
	})
	// what Baileys makes of WhatsApp's w:gp2 group notifications
	sock.ev.on('groups.upsert', (groups) => out({ groupsUpsert: groups.map((g) => ({ id: g.id, subject: g.subject })) }))
	sock.ev.on('groups.update', (updates) => out({ groupsUpdate: updates.map(({ id, subject, desc }) => ({ id, subject, desc })) }))
	sock.ev.on('group-participants.update', ({ id, author, participants, action }) =>
		out({ groupParticipants: { id, author, action, participants: participants.map((p) => (typeof p === 'string' ? p : p.id)) } })
	)
}

if (config.mode === 'pair' || config.mode === 'peer') {
	const creds = initAuthCreds()
	let paired = false
	start(
		creds,
		memoryKeys(),
		(event) => {
			if (event.open || (event.close === 515 && !paired)) {
				paired = true
				out({ creds: { me: creds.me, noise: toHex(creds.noiseKey.public), identity: toHex(creds.signedIdentityKey.public), platform: creds.platform ?? null } })
			}
			out(event)
		},
		config.mode === 'peer' ? listen : () => {},
		// a peer keeps what it sent, so it can answer retry receipts (as apps do with their message store)
		config.mode === 'peer' ? { getMessage: async (key) => sentById.get(key.id) } : {}
	)
} else {
	// The first credential warms the process up (lazy imports, caches) and stays open in the baseline.
	// With "contacts", each session then sends one text to every contact (Signal sessions with each).
	const contacts = config.contacts ?? []
	const openOne = (record) =>
		new Promise((resolve) => {
			const [creds, keys] = seededKeys(record)
			const sock = start(creds, keys, (event) => {
				if (event.open) resolve(sock)
				else if (event.close !== undefined && event.close !== 515) {
					out({ failed: event })
					resolve(null)
				}
			})
		}).then(async (sock) => {
			if (!sock) return false
			for (const jid of contacts) await sock.sendMessage(jid, { text: 'hello' })
			return true
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

const ATTACHMENTS = { imageMessage: 'image', documentMessage: 'document', audioMessage: 'audio', videoMessage: 'video', stickerMessage: 'sticker' }

async function downloadAttachment(sock, m) {
	const field = Object.keys(ATTACHMENTS).find((name) => m.message[name])
	if (!field) return
	const part = m.message[field]
	const conn = await sock.refreshMediaConn(false)
	const url = `https://${conn.hosts[0].hostname}${part.directPath}`
	const stream = await downloadContentFromMessage({ mediaKey: part.mediaKey, url }, ATTACHMENTS[field])
	const chunks = []
	for await (const chunk of stream) chunks.push(chunk)
	const data = Buffer.concat(chunks)
	out({ media: { id: m.key.id, kind: ATTACHMENTS[field], sha256: createHash('sha256').update(data).digest('hex'), length: data.length, caption: part.caption ?? null, fileName: part.fileName ?? null, mimetype: part.mimetype ?? null, ptt: !!part.ptt, thumbnail: part.jpegThumbnail ? part.jpegThumbnail.length : 0 } })
}

async function peerCommand(command) {
	if (command.sendMedia) {
		const { to, kind, hex: data, caption, fileName, mimetype, ptt } = command.sendMedia
		const content = { [kind]: Buffer.from(data, 'hex') }
		if (caption) content.caption = caption
		if (fileName) content.fileName = fileName
		if (mimetype) content.mimetype = mimetype
		if (ptt) content.ptt = true
		const sent = await peer.sendMessage(to, content)
		sentById.set(sent.key.id, sent.message)
		out({ sent: { id: sent.key.id } })
	}
	if (command.send) {
		const { to, text, quoted } = command.send
		const sent = await peer.sendMessage(to, { text }, quoted ? { quoted } : {})
		sentById.set(sent.key.id, sent.message)
		out({ sent: { id: sent.key.id } })
	}
	if (command.read) {
		await peer.readMessages(command.read)
		out({ read: command.read.length })
	}
	if (command.forgetSession) {
		await peer.signalRepository.deleteSession([command.forgetSession])
		out({ forgotten: command.forgetSession })
	}
	if (command.groupOp) {
		// Baileys' own group stanzas, so the fake edge is checked against the real client too
		const { op, jid, subject, description, participants, action } = command.groupOp
		let result = null
		try {
			if (op === 'create') result = (await peer.groupCreate(subject, participants)).id
			if (op === 'participants')
				result = (await peer.groupParticipantsUpdate(jid, participants, action)).map(({ jid, status }) => ({ jid, status }))
			if (op === 'subject') await peer.groupUpdateSubject(jid, subject)
			if (op === 'description') await peer.groupUpdateDescription(jid, description)
			if (op === 'invite') result = await peer.groupInviteCode(jid)
			if (op === 'revoke') result = await peer.groupRevokeInvite(jid)
			if (op === 'leave') await peer.groupLeave(jid)
			out({ groupDone: { op, result: result === undefined ? null : result, error: null } })
		} catch (error) {
			out({ groupDone: { op, result: null, error: error?.data ?? String(error) } }) // the server's code
		}
	}
	if (command.onWhatsApp) {
		// Baileys' own number check (a usync contact query): the fake edge must answer it as WhatsApp does
		out({ onWhatsApp: (await peer.onWhatsApp(...command.onWhatsApp)) ?? null })
	}
	if (command.groups) {
		const groups = await peer.groupFetchAllParticipating()
		out({ groups: Object.values(groups).map((g) => ({ id: g.id, subject: g.subject, size: g.size, addressingMode: g.addressingMode })) })
	}
}

for await (const line of iterator) {
	const command = JSON.parse(line)
	if (command.measure) out({ measured: usage(null) })
	if (command.end) break
	if (peer) await peerCommand(command).catch((error) => out({ error: String(error?.stack ?? error) }))
}
for (const sock of sockets) sock.end(undefined)
setTimeout(() => process.exit(0), 200)
