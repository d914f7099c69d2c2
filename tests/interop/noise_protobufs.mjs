// Messages encoded by Baileys' protobufjs WAProto, to compare with the WAProto_pb2 our build step makes.
// stdin:  {"messages": [{"type": "ClientPayload" | "CertChain.NoiseCertificate.Details" | ..., "json": {...}}]}
// stdout: [hex, ...]  (`proto[type].encode(proto[type].fromObject(json))`; bytes fields are base64 in json)
import { proto, readStdinJson, toHex } from './noise_baileys.mjs'

const { messages } = await readStdinJson()
const encoded = messages.map(({ type, json }) => {
	const Type = type.split('.').reduce((scope, name) => scope[name], proto)
	return toHex(Type.encode(Type.fromObject(json)).finish())
})
process.stdout.write(JSON.stringify(encoded))
