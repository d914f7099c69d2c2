// Pairing and login vectors made by Baileys from keys the test fixes, for the web engine's tests.
// stdin: {"creds": {noise, identity, signedPreKey: {id, private, signature}, registrationId, advSecret}
//                  (private keys and secrets in hex), "config": {version, browser, syncFullHistory, countryCode},
//         "ref": text, "loginJid": text,
//         "ourPhoneStanza": hex (a pair-success iq made by OUR fake phone for these creds), optional
//         "phone": {account (private hex), rawId, keyIndex, timestamp, jid, lid, id} (Baileys' logic builds
//                  a pair-success for these creds), optional
//         "checkReply": {reply: hex, accountPublic: hex, details: hex}  (OUR pair-device-sign), optional}
// stdout: {"qr": text, "registration": hex, "login": hex,            ClientPayload bytes (protobufjs)
//          "baileysPairing": {reply: hex, me, platform, accountSignatureByLibsignal: bool} | {error},
//          "phoneStanza": hex,                                         the pair-success Baileys' logic built
//          "replyCheck": {deviceSignatureByLibsignal, keyIndex, hasAccountSignatureKey, detailsEqual}}
import { createHash } from 'crypto'
import { proto } from '@whiskeysockets/baileys/WAProto/index.js'
import { buildPairingQRData } from '@whiskeysockets/baileys/lib/Utils/companion-reg-client-utils.js'
import { Curve, hmacSign } from '@whiskeysockets/baileys/lib/Utils/crypto.js'
import {
	configureSuccessfulPairing,
	generateLoginNode,
	generateRegistrationNode
} from '@whiskeysockets/baileys/lib/Utils/validate-connection.js'
import { decodeBinaryNode } from '@whiskeysockets/baileys/lib/WABinary/decode.js'
import { encodeBinaryNode } from '@whiskeysockets/baileys/lib/WABinary/encode.js'
import * as libsignalCurve from 'libsignal/src/curve.js'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'))
const hex = (text) => Buffer.from(text, 'hex')
const toHex = (bytes) => Buffer.from(bytes).toString('hex')
const pairOf = (privateHex) => {
	const privateKey = hex(privateHex)
	return { private: privateKey, public: Buffer.from(libsignalCurve.getPublicFromPrivateKey(privateKey)).subarray(1) }
}
const libsignalVerifies = (publicKey, message, signature) => {
	try {
		return libsignalCurve.verifySignature(Buffer.concat([Buffer.from([5]), publicKey]), message, signature) === true
	} catch {
		return false
	}
}

const c = input.creds
const creds = {
	noiseKey: pairOf(c.noise),
	signedIdentityKey: pairOf(c.identity),
	signedPreKey: { keyId: c.signedPreKey.id, keyPair: pairOf(c.signedPreKey.private), signature: hex(c.signedPreKey.signature) },
	registrationId: c.registrationId,
	advSecretKey: hex(c.advSecret).toString('base64'),
	signalIdentities: []
}
const output = {}

output.qr = buildPairingQRData(
	input.ref,
	creds.noiseKey.public.toString('base64'),
	creds.signedIdentityKey.public.toString('base64'),
	creds.advSecretKey,
	input.config.browser
)
output.registration = toHex(proto.ClientPayload.encode(generateRegistrationNode(creds, input.config)).finish())
output.login = toHex(proto.ClientPayload.encode(generateLoginNode(input.loginJid, input.config)).finish())

if (input.ourPhoneStanza) {
	try {
		const stanza = await decodeBinaryNode(hex(input.ourPhoneStanza))
		const { reply, creds: update } = configureSuccessfulPairing(stanza, creds)
		// Baileys' own Curve.verify ignores libsignal's verdict, so check the account signature for real.
		const signed = proto.ADVSignedDeviceIdentity.decode(
			proto.ADVSignedDeviceIdentityHMAC.decode(stanza.content[0].content[0].content).details
		)
		const message = Buffer.concat([Buffer.from([6, 0]), signed.details, creds.signedIdentityKey.public])
		output.baileysPairing = {
			reply: toHex(encodeBinaryNode(reply)),
			me: update.me,
			platform: update.platform ?? null,
			accountSignatureByLibsignal: libsignalVerifies(signed.accountSignatureKey, message, signed.accountSignature)
		}
	} catch (error) {
		output.baileysPairing = { error: String(error?.message ?? error) }
	}
}

if (input.phone) {
	// The phone's side, with Baileys' primitives: protobufjs, libsignal's XEdDSA, Node's HMAC.
	const p = input.phone
	const account = pairOf(p.account)
	const details = proto.ADVDeviceIdentity.encode({ rawId: p.rawId, timestamp: p.timestamp, keyIndex: p.keyIndex }).finish()
	const accountSignature = Curve.sign(account.private, Buffer.concat([Buffer.from([6, 0]), details, creds.signedIdentityKey.public]))
	const signed = proto.ADVSignedDeviceIdentity.encode({ details, accountSignatureKey: account.public, accountSignature }).finish()
	const container = proto.ADVSignedDeviceIdentityHMAC.encode({ details: signed, hmac: hmacSign(signed, hex(c.advSecret)) }).finish()
	const stanza = {
		tag: 'iq',
		attrs: { from: '@s.whatsapp.net', type: 'set', id: p.id, xmlns: 'md', t: String(p.timestamp) },
		content: [
			{
				tag: 'pair-success',
				attrs: {},
				content: [
					{ tag: 'device-identity', attrs: {}, content: container },
					{ tag: 'platform', attrs: { name: 'smba' } },
					{ tag: 'device', attrs: { jid: p.jid, lid: p.lid } },
					{ tag: 'biz', attrs: { name: 'Wagate Test Shop' } }
				]
			}
		]
	}
	output.phoneStanza = toHex(encodeBinaryNode(stanza))
}

if (input.checkReply) {
	const reply = await decodeBinaryNode(hex(input.checkReply.reply))
	const identityNode = reply.content[0].content[0]
	const returned = proto.ADVSignedDeviceIdentity.decode(identityNode.content)
	const accountPublic = hex(input.checkReply.accountPublic)
	const details = hex(input.checkReply.details)
	const message = Buffer.concat([Buffer.from([6, 1]), details, creds.signedIdentityKey.public, accountPublic])
	output.replyCheck = {
		tag: reply.tag,
		attrs: reply.attrs,
		signTag: reply.content[0].tag,
		keyIndex: identityNode.attrs['key-index'],
		hasAccountSignatureKey: (returned.accountSignatureKey?.length ?? 0) > 0,
		detailsEqual: Buffer.compare(Buffer.from(returned.details), details) === 0,
		deviceSignatureByLibsignal: libsignalVerifies(creds.signedIdentityKey.public, message, Buffer.from(returned.deviceSignature))
	}
}

output.md5 = createHash('md5').update(input.config.version.join('.')).digest('hex')
process.stdout.write(JSON.stringify(output))
