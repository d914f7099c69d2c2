// Baileys as a live Noise initiator talking to a responder in the test, one JSON object per line.
// First stdin line: {"root": hex, "routingInfo": hex | null, "clientPayload": hex, "chain": hex}
//   -> {"send": hex}  the intro + ClientHello, from fresh random keys, as Baileys' socket makes them
//      {"chain": {"intermediateByRoot": bool, "leafByIntermediate": bool, "issuerSerial": n, "leafKey": hex}}
//        `chain` (the CertChain the responder will send) decoded with Baileys' protobufs and checked with
//        libsignal's verifySignature: the real check, since Baileys' own Curve.verify ignores the verdict.
// Then commands:
//   {"recv": hex}     bytes from the responder, fed to Baileys' decodeFrame (any chunking). Answers, in
//                     order: {"send": hex, "noiseKey": hex} after the ServerHello (the ClientFinish), and
//                     {"node": json} per transport frame Baileys decoded (decrypt, inflate, WABinary);
//                     {"error": text} if Baileys threw. Always ends with {"done": true}.
//   {"encode": json}  -> {"encoded": hex}: Baileys' encodeBinaryNode bytes (flag byte 0 included)
//   {"sendNode": json} -> {"send": hex, "plain": hex}: a transport frame Baileys sends, and its plaintext
//   {"end": true}     exit
import { createInterface } from 'readline'
import * as libsignalCurve from 'libsignal/src/curve.js'
import { Curve } from '@whiskeysockets/baileys/lib/Utils/crypto.js'
import { encodeBinaryNode } from '@whiskeysockets/baileys/lib/WABinary/encode.js'
import { clientFinish, fromHex, makeInitiator, proto, toHex, trustRoot } from './noise_baileys.mjs'

const write = (message) => process.stdout.write(JSON.stringify(message) + '\n')

const toJson = (node) => ({
	tag: node.tag,
	attrs: node.attrs,
	content: Array.isArray(node.content)
		? node.content.map(toJson)
		: node.content instanceof Uint8Array
			? { hex: toHex(node.content) }
			: node.content
})
const fromJson = ({ tag, attrs, content }) => ({
	tag,
	attrs,
	content: Array.isArray(content) ? content.map(fromJson) : content?.hex !== undefined ? fromHex(content.hex) : content
})

const libsignalVerify = (publicKey, message, signature) => {
	try {
		return libsignalCurve.verifySignature(Buffer.concat([Buffer.from([5]), publicKey]), message, signature) === true
	} catch {
		return false
	}
}

function checkChain(chainHex, rootHex) {
	const { leaf, intermediate } = proto.CertChain.decode(fromHex(chainHex))
	const details = proto.CertChain.NoiseCertificate.Details.decode(intermediate.details)
	const leafDetails = proto.CertChain.NoiseCertificate.Details.decode(leaf.details)
	return {
		intermediateByRoot: libsignalVerify(fromHex(rootHex), intermediate.details, intermediate.signature),
		leafByIntermediate: libsignalVerify(Buffer.from(details.key), leaf.details, leaf.signature),
		issuerSerial: details.issuerSerial,
		leafIssuerSerial: leafDetails.issuerSerial,
		intermediateSerial: details.serial,
		leafKey: toHex(leafDetails.key)
	}
}

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
const config = JSON.parse((await lines.next()).value)
trustRoot(config.root)
const ephemeral = Curve.generateKeyPair()
const noiseKey = Curve.generateKeyPair()
const { noise, hello } = makeInitiator(ephemeral, config.routingInfo)
write({ send: toHex(hello) })
write({ chain: checkChain(config.chain, config.root) })

let transport = false
for await (const line of { [Symbol.asyncIterator]: () => lines }) {
	const command = JSON.parse(line)
	if (command.end) break
	if (command.encode) {
		write({ encoded: toHex(encodeBinaryNode(fromJson(command.encode))) })
	} else if (command.sendNode) {
		const plain = encodeBinaryNode(fromJson(command.sendNode))
		write({ send: toHex(noise.encodeFrame(plain)), plain: toHex(plain) })
	} else if (command.recv) {
		try {
			const frames = []
			await noise.decodeFrame(fromHex(command.recv), (frame) => frames.push(frame))
			for (const frame of frames) {
				if (transport) {
					write({ node: toJson(frame) })
				} else {
					const finish = clientFinish(noise, frame, noiseKey, fromHex(config.clientPayload))
					await noise.finishInit()
					transport = true
					write({ send: toHex(finish), noiseKey: toHex(noiseKey.public) })
				}
			}
		} catch (error) {
			write({ error: String(error?.message ?? error) })
		}
		write({ done: true })
	}
}
process.exit(0)
