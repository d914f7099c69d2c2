// A Baileys device's Signal stack (makeLibSignalRepository over libsignal, as a black box) that keeps its
// state between commands: one JSON object per stdin line, one answer per stdout line. Bytes are hex.
//
// Keys live in an in-memory store that round-trips every value through JSON with Baileys' BufferJSON, as
// its file and database stores do, behind Baileys' own addTransactionCapability.
//
//   {"cmd": "install", "me": jid}                 new identity, registration id, signed prekey; keys wiped
//       -> {"identity": hex32, "registrationId": n}
//   {"cmd": "bundle", "preKey": bool}             our bundle, with a fresh one-time prekey when asked
//       -> {"bundle": {"registrationId", "identityKey", "signedPreKey": {keyId, publicKey, signature},
//                      "preKey"?: {keyId, publicKey}}}               (public keys 32 bytes, no 0x05)
//   {"cmd": "inject", "jid": jid, "bundle": {...}}                   SessionBuilder.initOutgoing -> {}
//   {"cmd": "encrypt", "jid": jid, "plaintext": hex}                 -> {"type": "pkmsg"|"msg", "ciphertext"}
//   {"cmd": "decrypt", "jid": jid, "type": t, "ciphertext": hex}     -> {"plaintext"} | {"error"}
//   {"cmd": "deleteSession", "jid": jid}                             -> {}
//   {"cmd": "hasSession", "jid": jid}                                -> {"exists": bool}
//   {"cmd": "groupEncrypt", "group": jid, "plaintext": hex}          -> {"ciphertext", "skdm"}
//   {"cmd": "groupProcess", "group": jid, "author": jid, "skdm": hex} -> {} | {"error"}
//   {"cmd": "groupDecrypt", "group": jid, "author": jid, "ciphertext": hex} -> {"plaintext"} | {"error"}
//   {"cmd": "unpad", "padded": [hex]}  -> {"unpadded": [hex], "padded": [hex x8]}: Baileys' unpad of ours,
//                                        and eight of its own random paddings of the same protobuf
//   {"cmd": "bench", "messages": n, "groupMessages": n, "burst": n, "size": n}
//       -> {"one_to_one_us", "group_us"}: two devices of this stack in one process, µs per message
//          (encrypt + decrypt); 1:1 in bursts of `burst` per direction (a ratchet step per turn),
//          group after 100 messages to warm up
//   {"cmd": "end"}
import { createInterface } from 'readline'
import { makeLibSignalRepository } from '@whiskeysockets/baileys/lib/Signal/libsignal.js'
import { addTransactionCapability, initAuthCreds } from '@whiskeysockets/baileys/lib/Utils/auth-utils.js'
import { Curve } from '@whiskeysockets/baileys/lib/Utils/crypto.js'
import { BufferJSON, unpadRandomMax16, writeRandomPadMax16 } from '@whiskeysockets/baileys/lib/Utils/generics.js'

// libsignal logs session changes with console.log: keep stdout for answers only.
console.log = console.info = console.debug = console.warn = console.error

const hex = (data) => Buffer.from(data).toString('hex')
const bytes = (text) => Buffer.from(text, 'hex')
const write = (message) => process.stdout.write(JSON.stringify(message) + '\n')

const silent = {
	level: 'silent',
	trace() {},
	debug() {},
	info() {},
	warn() {},
	error() {},
	child() {
		return silent
	}
}

function memoryStore() {
	const data = {}
	return {
		async get(type, ids) {
			const found = {}
			for (const id of ids) {
				const text = data[type]?.[id]
				if (text !== undefined) found[id] = JSON.parse(text, BufferJSON.reviver)
			}
			return found
		},
		async set(changes) {
			for (const type in changes) {
				data[type] = data[type] || {}
				for (const id in changes[type]) {
					const value = changes[type][id]
					if (value === null || value === undefined) delete data[type][id]
					else data[type][id] = JSON.stringify(value, BufferJSON.replacer)
				}
			}
		}
	}
}

function makeDevice(me) {
	const creds = initAuthCreds()
	creds.me = { id: me }
	const keys = addTransactionCapability(memoryStore(), silent, { maxCommitRetries: 1, delayBetweenTriesMs: 0 })
	const repository = makeLibSignalRepository({ creds, keys }, silent)
	return { me, creds, keys, repository, nextPreKeyId: 1 }
}

async function bundleOf(device, withPreKey) {
	const { creds } = device
	const bundle = {
		registrationId: creds.registrationId,
		identityKey: hex(creds.signedIdentityKey.public),
		signedPreKey: {
			keyId: creds.signedPreKey.keyId,
			publicKey: hex(creds.signedPreKey.keyPair.public),
			signature: hex(creds.signedPreKey.signature)
		}
	}
	if (withPreKey) {
		const keyId = device.nextPreKeyId++
		const pair = Curve.generateKeyPair()
		await device.keys.set({ 'pre-key': { [keyId]: pair } })
		bundle.preKey = { keyId, publicKey: hex(pair.public) }
	}
	return bundle
}

// Baileys' parseAndInjectE2ESessions shape: 33-byte keys (0x05 prefix), buffers.
const sessionOf = (bundle) => ({
	registrationId: bundle.registrationId,
	identityKey: Buffer.concat([Buffer.from([5]), bytes(bundle.identityKey)]),
	signedPreKey: {
		keyId: bundle.signedPreKey.keyId,
		publicKey: Buffer.concat([Buffer.from([5]), bytes(bundle.signedPreKey.publicKey)]),
		signature: bytes(bundle.signedPreKey.signature)
	},
	preKey: bundle.preKey && {
		keyId: bundle.preKey.keyId,
		publicKey: Buffer.concat([Buffer.from([5]), bytes(bundle.preKey.publicKey)])
	}
})

const ratchetBench = async ({ messages, burst, size }) => {
	const alice = makeDevice('900000000001@s.whatsapp.net')
	const bob = makeDevice('900000000002@s.whatsapp.net')
	await alice.repository.injectE2ESession({ jid: bob.me, session: sessionOf(await bundleOf(bob, true)) })
	const plaintext = Buffer.alloc(size, 7)
	const exchange = async (count) => {
		for (let i = 0; i < count; i++) {
			const [from, to] = Math.floor(i / burst) % 2 === 0 ? [alice, bob] : [bob, alice]
			const { type, ciphertext } = await from.repository.encryptMessage({ jid: to.me, data: plaintext })
			await to.repository.decryptMessage({ jid: from.me, type, ciphertext })
		}
	}
	await exchange(Math.min(200, messages)) // warm up the JIT
	const start = process.hrtime.bigint()
	await exchange(messages)
	return Number(process.hrtime.bigint() - start) / 1e3 / messages
}

const groupBench = async ({ groupMessages: messages, size }) => {
	const alice = makeDevice('900000000001@s.whatsapp.net')
	const bob = makeDevice('900000000002@s.whatsapp.net')
	const group = '120363000000000999@g.us'
	const plaintext = Buffer.alloc(size, 7)
	const first = await alice.repository.encryptGroupMessage({ group, meId: alice.me, data: plaintext })
	await bob.repository.processSenderKeyDistributionMessage({
		item: { groupId: group, axolotlSenderKeyDistributionMessage: first.senderKeyDistributionMessage },
		authorJid: alice.me
	})
	const exchange = async (count) => {
		for (let i = 0; i < count; i++) {
			const { ciphertext } = await alice.repository.encryptGroupMessage({ group, meId: alice.me, data: plaintext })
			await bob.repository.decryptGroupMessage({ group, authorJid: alice.me, msg: ciphertext })
		}
	}
	await exchange(100)
	const start = process.hrtime.bigint()
	await exchange(messages)
	return Number(process.hrtime.bigint() - start) / 1e3 / messages
}

let device = null
const handlers = {
	async install({ me }) {
		device = makeDevice(me)
		return { identity: hex(device.creds.signedIdentityKey.public), registrationId: device.creds.registrationId }
	},
	async bundle({ preKey }) {
		return { bundle: await bundleOf(device, preKey) }
	},
	async inject({ jid, bundle }) {
		await device.repository.injectE2ESession({ jid, session: sessionOf(bundle) })
		return {}
	},
	async encrypt({ jid, plaintext }) {
		const { type, ciphertext } = await device.repository.encryptMessage({ jid, data: bytes(plaintext) })
		return { type, ciphertext: hex(ciphertext) }
	},
	async decrypt({ jid, type, ciphertext }) {
		const plaintext = await device.repository.decryptMessage({ jid, type, ciphertext: bytes(ciphertext) })
		return { plaintext: hex(plaintext) }
	},
	async deleteSession({ jid }) {
		await device.repository.deleteSession([jid])
		return {}
	},
	async hasSession({ jid }) {
		return { exists: (await device.repository.validateSession(jid)).exists }
	},
	async groupEncrypt({ group, plaintext }) {
		const result = await device.repository.encryptGroupMessage({ group, meId: device.me, data: bytes(plaintext) })
		return { ciphertext: hex(result.ciphertext), skdm: hex(result.senderKeyDistributionMessage) }
	},
	async groupProcess({ group, author, skdm }) {
		await device.repository.processSenderKeyDistributionMessage({
			item: { groupId: group, axolotlSenderKeyDistributionMessage: bytes(skdm) },
			authorJid: author
		})
		return {}
	},
	async groupDecrypt({ group, author, ciphertext }) {
		const plaintext = await device.repository.decryptGroupMessage({ group, authorJid: author, msg: bytes(ciphertext) })
		return { plaintext: hex(plaintext) }
	},
	async unpad({ padded }) {
		const sample = Buffer.from('0a0568656c6c6f', 'hex')
		return {
			unpadded: padded.map((item) => hex(unpadRandomMax16(bytes(item)))),
			padded: Array.from({ length: 8 }, () => hex(writeRandomPadMax16(sample)))
		}
	},
	async bench(options) {
		return { one_to_one_us: await ratchetBench(options), group_us: await groupBench(options) }
	}
}

for await (const line of createInterface({ input: process.stdin })) {
	const command = JSON.parse(line)
	if (command.cmd === 'end') break
	try {
		write(await handlers[command.cmd](command))
	} catch (error) {
		write({ error: String(error?.message ?? error) })
	}
}
process.exit(0)
