import type { ConferenceStore } from '@sipms/shared/data/conference-store';
import type { NodeRegistry } from '@sipms/shared/data/node-registry';
import type { ConferenceDirectory, ConferenceHosts } from '../ports/conferences.js';

/** The conference directory on the table: the conference items, and the node registry for who is live. */
export function tableConferenceDirectory(
  store: ConferenceStore,
  registry: Pick<NodeRegistry, 'liveNodes'>,
): ConferenceDirectory {
  return {
    create: (record) => store.create(record),
    get: (tenantId, name) => store.get(tenantId, name),
    replace: (record, previous) => store.replace(record, previous),
    putMember: (at, id, member) => store.putMember(at, id, member),
    updateMember: (at, id, change) => store.updateMember(at, id, change),
    removeMember: (at, id) => store.removeMember(at, id),
    setRecording: (at, recording) => store.setRecording(at, recording),
    remove: (at) => store.remove(at),
    nodeAlive: async (nodeId) => (await registry.liveNodes()).some((n) => n.nodeId === nodeId),
  };
}

/** The other nodes through the node registry: their heartbeats (relay addresses) and their inboxes. */
export function registryConferenceHosts(registry: Pick<NodeRegistry, 'liveNodes' | 'send'>): ConferenceHosts {
  const live = async (nodeId: string) => (await registry.liveNodes()).find((n) => n.nodeId === nodeId);
  return {
    relayOf: async (nodeId) => (await live(nodeId))?.conferenceRelay,
    admit: async (hostNodeId, tenantId, payload) => {
      await registry.send(hostNodeId, { kind: 'conferenceAdmit', tenantId, payload });
    },
    alive: async (nodeId) => (await live(nodeId)) !== undefined,
  };
}
