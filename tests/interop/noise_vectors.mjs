// A Noise transcript from Baileys' initiator with injected keys, to compare byte for byte with ours.
// usage: node noise_vectors.mjs            -> one transcript
//        node noise_vectors.mjs bench N    -> CPU time of N handshakes on the same transcript
// stdin:  {"root": hex, "ephemeral": {"private", "public"}, "noiseKey": {"private", "public"},
//          "routingInfo": hex | null, "serverHello": hex (framed, as the server sends it),
//          "clientPayload": hex, "clientFrames": [hex], "serverStream": hex (framed transport frames)}
// stdout: {"clientHello": hex, "clientFinish": hex, "clientFrames": [hex], "serverPlaintexts": [hex]}
//         bench: {"iterations": N, "cpuMsPerHandshake": x, "wallMsPerHandshake": y}
import {
	clientFinish,
	fromHex,
	keyPair,
	makeInitiator,
	readStdinJson,
	splitFrames,
	toHex,
	trustRoot
} from './noise_baileys.mjs'

const input = await readStdinJson()
trustRoot(input.root)
const ephemeral = keyPair(input.ephemeral)
const noiseKey = keyPair(input.noiseKey)
const serverHello = fromHex(input.serverHello)
const clientPayload = fromHex(input.clientPayload)

/** The client's side of one handshake, exactly as Baileys' socket runs it. */
async function handshake() {
	const { noise, hello } = makeInitiator(ephemeral, input.routingInfo)
	let serverHelloBody = null
	await noise.decodeFrame(serverHello, (frame) => {
		serverHelloBody = frame
	})
	const finish = clientFinish(noise, serverHelloBody, noiseKey, clientPayload)
	await noise.finishInit()
	return { noise, hello, finish }
}

if (process.argv[2] === 'bench') {
	const iterations = Number(process.argv[3] ?? 2000)
	for (let i = 0; i < Math.min(50, iterations); i++) await handshake() // warm up the JIT
	const cpu = process.cpuUsage()
	const wall = process.hrtime.bigint()
	for (let i = 0; i < iterations; i++) await handshake()
	const used = process.cpuUsage(cpu)
	const wallNs = Number(process.hrtime.bigint() - wall)
	process.stdout.write(
		JSON.stringify({
			iterations,
			cpuMsPerHandshake: (used.user + used.system) / 1000 / iterations,
			wallMsPerHandshake: wallNs / 1e6 / iterations
		})
	)
} else {
	const { noise, hello, finish } = await handshake()
	const clientFrames = input.clientFrames.map((payload) => toHex(noise.encodeFrame(fromHex(payload))))
	// Raw transport decryption (Baileys' decodeFrame would also parse a binary node; keys are the point here).
	const serverPlaintexts = splitFrames(fromHex(input.serverStream)).map((frame) => toHex(noise.decrypt(frame)))
	process.stdout.write(
		JSON.stringify({ clientHello: toHex(hello), clientFinish: toHex(finish), clientFrames, serverPlaintexts })
	)
}
