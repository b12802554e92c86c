// Placeholder: replaced by the PostgreSQL harness (starts one throwaway server for the whole run).
export default async function setup(): Promise<void> {}
