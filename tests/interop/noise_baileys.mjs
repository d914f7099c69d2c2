// Shared by the noise_* scripts: Baileys' Noise initiator (lib/Utils/noise-handler) driven the way its
// socket (lib/Socket/socket.js validateConnection) drives it, with injected keys and a TEST root key.
import { NOISE_WA_HEADER, WA_CERT_DETAILS } from '@whiskeysockets/baileys/lib/Defaults/index.js'
import { makeNoiseHandler } from '@whiskeysockets/baileys/lib/Utils/noise-handler.js'
import { proto } from '@whiskeysockets/baileys/WAProto/index.js'

export { proto }

export const fromHex = (text) => Buffer.from(text, 'hex')
export const toHex = (bytes) => Buffer.from(bytes).toString('hex')

const quiet = {
	level: 'silent',
	child() {
		return quiet
	},
	trace() {},
	debug() {},
	info() {},
	warn() {},
	error() {}
}

/** Baileys checks the intermediate against WA_CERT_DETAILS.PUBLIC_KEY; point it at the test root. */
export function trustRoot(rootHex) {
	WA_CERT_DETAILS.PUBLIC_KEY = fromHex(rootHex)
}

export const keyPair = ({ private: privateHex, public: publicHex }) => ({
	private: fromHex(privateHex),
	public: fromHex(publicHex)
})

/** A Baileys initiator: `hello` is the intro + ClientHello frame it sends first. */
export function makeInitiator(ephemeral, routingInfoHex) {
	const noise = makeNoiseHandler({
		keyPair: ephemeral,
		NOISE_HEADER: NOISE_WA_HEADER,
		logger: quiet,
		routingInfo: routingInfoHex ? fromHex(routingInfoHex) : undefined
	})
	const helloMessage = proto.HandshakeMessage.fromObject({ clientHello: { ephemeral: ephemeral.public } })
	const hello = noise.encodeFrame(proto.HandshakeMessage.encode(helloMessage).finish())
	return { noise, hello }
}

/** Process the ServerHello frame body, then encrypt our static key and the ClientPayload: the framed
 * ClientFinish. The caller then awaits `noise.finishInit()`, as Baileys does after sending it. */
export function clientFinish(noise, serverHello, noiseKey, clientPayload) {
	const handshake = proto.HandshakeMessage.decode(serverHello)
	const keyEnc = noise.processHandshake(handshake, noiseKey)
	const payloadEnc = noise.encrypt(clientPayload)
	const finish = proto.HandshakeMessage.encode({ clientFinish: { static: keyEnc, payload: payloadEnc } }).finish()
	return noise.encodeFrame(finish)
}

/** Split a byte stream of 3-byte-length frames (what the server sends) into frame bodies. */
export function splitFrames(stream) {
	const frames = []
	let offset = 0
	while (offset < stream.length) {
		const size = (stream[offset] << 16) | (stream[offset + 1] << 8) | stream[offset + 2]
		frames.push(stream.subarray(offset + 3, offset + 3 + size))
		offset += 3 + size
	}
	return frames
}

export async function readStdinJson() {
	const chunks = []
	for await (const chunk of process.stdin) chunks.push(chunk)
	return JSON.parse(Buffer.concat(chunks).toString('utf8'))
}
